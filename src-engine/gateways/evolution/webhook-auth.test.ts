import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signWebhookJwt } from '../../../test/sim/evolution/jwt.ts';
import { verifyWebhookAuth, WEBHOOK_SECRET_HEADER } from './webhook-auth.ts';

const SECRET = 'a-long-shared-secret';
const JWT_KEY = 'evolution-jwt-key';
const NOW = Date.UTC(2026, 10, 15, 12);
const now = () => NOW;

const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
/** A token signed properly with any header and claims, to reach the checks after the signature. */
function token(head: object, claims: object, key = JWT_KEY) {
  const unsigned = `${b64(head)}.${b64(claims)}`;
  return `${unsigned}.${createHmac('sha256', key).update(unsigned).digest('base64url')}`;
}
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('verifyWebhookAuth: shared secret', () => {
  it('accepts the right secret, whatever the header case or repetition', () => {
    expect(verifyWebhookAuth({ [WEBHOOK_SECRET_HEADER]: SECRET }, { secret: SECRET })).toBe(true);
    expect(verifyWebhookAuth({ 'X-Agencia-Webhook-Secret': SECRET }, { secret: SECRET })).toBe(true);
    expect(verifyWebhookAuth({ [WEBHOOK_SECRET_HEADER]: [SECRET, 'x'] }, { secret: SECRET })).toBe(true);
  });

  it('refuses a wrong, shorter, longer or missing secret', () => {
    for (const presented of ['wrong', SECRET.slice(0, -1), `${SECRET}x`, '']) {
      expect(verifyWebhookAuth({ [WEBHOOK_SECRET_HEADER]: presented }, { secret: SECRET })).toBe(false);
    }
    expect(verifyWebhookAuth({}, { secret: SECRET })).toBe(false);
  });

  it('lets nothing through when nothing is configured (an empty secret counts as none)', () => {
    expect(verifyWebhookAuth({ [WEBHOOK_SECRET_HEADER]: '' }, { secret: '' })).toBe(false);
    expect(
      verifyWebhookAuth({ [WEBHOOK_SECRET_HEADER]: 'x', ...bearer(signWebhookJwt(JWT_KEY, NOW)) }, {}),
    ).toBe(false);
  });
});

describe('verifyWebhookAuth: Evolution jwt_key bearer', () => {
  it('accepts the token Evolution signs, for its 10 minutes', () => {
    const t = signWebhookJwt(JWT_KEY, NOW);
    expect(verifyWebhookAuth(bearer(t), { jwtKey: JWT_KEY, now })).toBe(true);
    expect(verifyWebhookAuth({ Authorization: `bearer ${t}` }, { jwtKey: JWT_KEY, now })).toBe(true);
    expect(verifyWebhookAuth(bearer(t), { jwtKey: JWT_KEY, now: () => NOW + 599_000 })).toBe(true);
  });

  it('refuses an expired token', () => {
    const t = signWebhookJwt(JWT_KEY, NOW);
    expect(verifyWebhookAuth(bearer(t), { jwtKey: JWT_KEY, now: () => NOW + 600_000 })).toBe(false);
  });

  it('refuses a token signed with another key, or altered after signing', () => {
    expect(verifyWebhookAuth(bearer(signWebhookJwt('other-key', NOW)), { jwtKey: JWT_KEY, now })).toBe(false);
    const [head, , signature] = signWebhookJwt(JWT_KEY, NOW).split('.');
    const longer = b64({ iat: NOW / 1000, exp: NOW / 1000 + 86_400 });
    expect(verifyWebhookAuth(bearer(`${head}.${longer}.${signature}`), { jwtKey: JWT_KEY, now })).toBe(false);
  });

  it('refuses other algorithms, missing or future-dated claims, and malformed tokens', () => {
    const exp = NOW / 1000 + 60;
    const cases = [
      token({ alg: 'none' }, { exp }),
      `${b64({ alg: 'none' })}.${b64({ exp })}.`,
      token({ alg: 'HS512' }, { exp }),
      token({ alg: 'HS256' }, { iat: NOW / 1000 }),
      token({ alg: 'HS256' }, { exp, nbf: exp - 1 }),
      token({ alg: 'HS256' }, { exp: String(exp) }),
      'not-a-jwt',
      'a.b.c.d',
      `${b64({ alg: 'HS256' })}.!!.x`,
    ];
    for (const t of cases) expect(verifyWebhookAuth(bearer(t), { jwtKey: JWT_KEY, now }), t).toBe(false);
    // The same claims, properly formed, pass: the refusals above are about what they change.
    expect(
      verifyWebhookAuth(bearer(token({ alg: 'HS256', typ: 'JWT' }, { exp })), { jwtKey: JWT_KEY, now }),
    ).toBe(true);
  });

  it('refuses a missing or non-bearer Authorization header', () => {
    expect(verifyWebhookAuth({}, { jwtKey: JWT_KEY, now })).toBe(false);
    expect(
      verifyWebhookAuth({ authorization: `Basic ${signWebhookJwt(JWT_KEY, NOW)}` }, { jwtKey: JWT_KEY, now }),
    ).toBe(false);
  });

  it('passes when either configured credential is valid', () => {
    const good = signWebhookJwt(JWT_KEY, NOW);
    const opts = { secret: SECRET, jwtKey: JWT_KEY, now };
    expect(verifyWebhookAuth({ [WEBHOOK_SECRET_HEADER]: 'wrong', ...bearer(good) }, opts)).toBe(true);
    expect(verifyWebhookAuth({ [WEBHOOK_SECRET_HEADER]: SECRET, ...bearer('junk') }, opts)).toBe(true);
    expect(verifyWebhookAuth({ [WEBHOOK_SECRET_HEADER]: 'wrong', ...bearer('junk') }, opts)).toBe(false);
  });
});
