import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorBody } from '../contracts/errors.ts';

/**
 * Serves the built renderer (`out/renderer`) for `agencia-desk-engine start --ui`, so the desktop UI
 * runs in a browser against the headless engine.
 *
 * Protection, in order, on every request of this plugin:
 * 1. DNS rebinding: the Host header must name the loopback address and our port
 *    (`127.0.0.1`, `localhost`, `[::1]`), and an Origin header, when sent, must be that same origin.
 * 2. The session token: the first load is `/?token=<token>`; it answers with the page and an
 *    HttpOnly, SameSite=Strict cookie (a keyed hash of the token, never the token itself) that lets
 *    the page load its assets and be reloaded. The page keeps the token itself (from its URL, then
 *    sessionStorage) to call the API with `Authorization: Bearer`, and strips it from the address bar.
 */
export interface StaticUiOptions {
  /** The renderer build: a folder with `index.html` and `assets/`. */
  rootDir: string;
  /** The session token the page must be opened with (and the API accepts as a Bearer token). */
  token: string;
  /** The port the engine listens on; a function when it is only known after `listen` (port 0). */
  port: number | (() => number);
  /** Host names accepted besides the loopback ones (a panel served on another address). */
  hosts?: readonly string[];
}

export const UI_COOKIE = 'agencia_ui';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
};

/** Used when index.html carries no CSP of its own. */
const DEFAULT_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'";

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  // The token travels in the first URL: it must never leave in a Referer.
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

/**
 * Host headers a loopback server on `port` accepts (plus `hosts`, lower-case): anything else is a
 * rebinding attempt.
 */
export function isAllowedHost(
  host: string | undefined,
  port: number,
  hosts: readonly string[] = [],
): boolean {
  if (!host) return false;
  const h = host.toLowerCase();
  return [...LOOPBACK_NAMES, ...hosts].some((name) => h === `${name}:${port}`);
}

/** An Origin header, when present, must be an origin of this server (loopback, or one of `hosts`). */
export function isAllowedOrigin(
  origin: string | undefined,
  port: number,
  hosts: readonly string[] = [],
): boolean {
  if (origin === undefined) return true;
  const o = origin.toLowerCase();
  return [...LOOPBACK_NAMES, ...hosts].some((name) => o === `http://${name}:${port}`);
}

/**
 * An onRequest hook refusing requests whose Host or Origin is not this server: the same check the
 * UI routes get, for the engine to put in front of its API routes too.
 */
export function localOnly(port: StaticUiOptions['port'], hosts: readonly string[] = []) {
  const portOf = typeof port === 'function' ? port : () => port;
  const names = hosts.map((h) => h.toLowerCase());
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const p = portOf();
    const origin = req.headers.origin;
    if (!isAllowedHost(req.headers.host, p, names) || !isAllowedOrigin(origin, p, names)) {
      return sendError(reply, 401, {
        error: 'UNAUTHORIZED',
        message: 'Host or Origin is not this local engine',
      });
    }
  };
}

function sendError(reply: FastifyReply, status: number, body: ErrorBody) {
  return reply.status(status).header('cache-control', 'no-store').send(body);
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time comparison of two strings of any length. */
function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of header?.split(';') ?? []) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}

/**
 * The CSP index.html declares in its meta tag, sent as a header too, plus what only a header can
 * say: that no other page may frame this one.
 */
export function cspOf(html: string): string {
  const meta = /<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]+)"/i.exec(html);
  const policy = meta?.[1]?.replace(/\s+/g, ' ').trim() ?? DEFAULT_CSP;
  return /frame-ancestors/.test(policy) ? policy : `${policy}; frame-ancestors 'none'`;
}

/** A Fastify plugin serving the renderer build; register it on the engine's API server. */
export async function staticUi(app: FastifyInstance, opts: StaticUiOptions): Promise<void> {
  const root = resolve(opts.rootDir);
  const assetsDir = resolve(root, 'assets');
  const indexFile = resolve(root, 'index.html');
  // The cookie proves a past `?token=` load without being the token: leaking it gives no API access.
  const cookieSecret = createHmac('sha256', opts.token).update('agencia-ui-cookie').digest('base64url');

  // Plugin hooks are encapsulated: they guard the routes below, not the rest of the API.
  app.addHook('onRequest', localOnly(opts.port, opts.hosts));
  app.addHook('onRequest', async (req, reply) => {
    void reply.headers(SECURITY_HEADERS);
    const queryToken = (req.query as Record<string, unknown> | undefined)?.token;
    if (typeof queryToken === 'string' && sameSecret(queryToken, opts.token)) {
      void reply.header('set-cookie', `${UI_COOKIE}=${cookieSecret}; Path=/; HttpOnly; SameSite=Strict`);
      return;
    }
    const cookie = cookieValue(req.headers.cookie, UI_COOKIE);
    if (cookie !== undefined && sameSecret(cookie, cookieSecret)) return;
    return sendError(reply, 401, {
      error: 'UNAUTHORIZED',
      message: 'Open the address printed by the engine (it carries the session token)',
    });
  });

  const sendIndex = async (_req: FastifyRequest, reply: FastifyReply) => {
    const html = await readFile(indexFile, 'utf8').catch(() => undefined);
    if (html === undefined) {
      return sendError(reply, 404, { error: 'NOT_FOUND', message: 'The UI is not built (out/renderer)' });
    }
    return reply
      .header('content-type', CONTENT_TYPES['.html'])
      .header('cache-control', 'no-store')
      .header('content-security-policy', cspOf(html))
      .send(html);
  };
  app.get('/', sendIndex);
  app.get('/index.html', sendIndex);

  app.get('/assets/*', async (req, reply) => {
    const rel = (req.params as { '*': string })['*'];
    const file = resolve(assetsDir, rel);
    const inside = file.startsWith(assetsDir + sep) && !rel.includes('\0');
    const info = inside ? await stat(file).catch(() => undefined) : undefined;
    if (!info?.isFile()) {
      return sendError(reply, 404, { error: 'NOT_FOUND', message: `No file /assets/${rel}` });
    }
    return (
      reply
        .header('content-type', CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream')
        // Vite names every asset by its content hash: a changed file is a new URL.
        .header('cache-control', 'private, max-age=31536000, immutable')
        .send(await readFile(file))
    );
  });
}
