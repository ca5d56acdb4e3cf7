import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { z } from 'zod';
import { WebhookJwtClaimsSchema, WebhookJwtHeaderSchema } from '../../contracts/evolution.ts';

/** The header our Evolution webhook config carries (its `headers` are sent with every delivery). */
export const WEBHOOK_SECRET_HEADER = 'x-agencia-webhook-secret';

/** Request headers as node:http and fastify give them. */
export type HeaderBag = Record<string, string | string[] | undefined>;

export interface WebhookAuthOptions {
  /** Shared secret expected in `x-agencia-webhook-secret`. */
  secret?: string;
  /** The `jwt_key` of the webhook config: Evolution then sends `Authorization: Bearer <HS256 JWT>`. */
  jwtKey?: string;
  now?: () => number;
}

/**
 * True when the request carries a valid shared secret or a valid, unexpired Evolution JWT. With
 * nothing configured nothing passes; empty strings count as not configured.
 */
export function verifyWebhookAuth(headers: HeaderBag, opts: WebhookAuthOptions): boolean {
  const presentedSecret = header(headers, WEBHOOK_SECRET_HEADER);
  if (opts.secret && presentedSecret !== undefined && sameSecret(presentedSecret, opts.secret)) return true;

  const bearer = /^Bearer\s+(\S+)$/i.exec(header(headers, 'authorization') ?? '')?.[1];
  const nowMs = (opts.now ?? Date.now)();
  return Boolean(opts.jwtKey && bearer !== undefined && verifyHs256(bearer, opts.jwtKey, nowMs));
}

function header(headers: HeaderBag, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
}

// Hashing first makes the comparison constant-time whatever the lengths.
const digest = (s: string) => createHash('sha256').update(s).digest();
const sameSecret = (a: string, b: string) => timingSafeEqual(digest(a), digest(b));

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** An HS256 JWT signed with `key`, with `exp` in the future (and `nbf`, if any, in the past). */
function verifyHs256(token: string, key: string, nowMs: number): boolean {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => BASE64URL.test(p))) return false;
  const [head, payload, signature] = parts as [string, string, string];
  if (!decodeJson(head, WebhookJwtHeaderSchema)) return false;
  const expected = createHmac('sha256', key).update(`${head}.${payload}`).digest();
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
  const claims = decodeJson(payload, WebhookJwtClaimsSchema);
  const nowSec = nowMs / 1000;
  return claims !== undefined && nowSec < claims.exp && (claims.nbf === undefined || nowSec >= claims.nbf);
}

function decodeJson<S extends z.ZodType>(part: string, schema: S): z.output<S> | undefined {
  try {
    const parsed = schema.safeParse(JSON.parse(Buffer.from(part, 'base64url').toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
