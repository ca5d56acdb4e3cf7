import { createHmac } from 'node:crypto';

const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * The bearer Evolution's WebhookController.generateJwtToken() makes: jsonwebtoken's HS256 with
 * `{iat, exp: iat + 600, app: 'evolution', action: 'webhook'}`. Written here independently of the
 * engine's verifier, so that a test of one checks the other.
 */
export function signWebhookJwt(key: string, nowMs: number, lifetimeSec = 600): string {
  const iat = Math.floor(nowMs / 1000);
  const head = part({ alg: 'HS256', typ: 'JWT' });
  const body = part({ iat, exp: iat + lifetimeSec, app: 'evolution', action: 'webhook' });
  const signature = createHmac('sha256', key).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${signature}`;
}
