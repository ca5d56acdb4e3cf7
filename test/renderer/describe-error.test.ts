import { describe, expect, it } from 'vitest';
import { ClientError, codeForStatus, errorFromBody } from '../../src-renderer/src/client/errors.ts';
import { describeError } from '../../src-renderer/src/i18n/describe-error.ts';
import { en } from '../../src-renderer/src/i18n/en.ts';
import { es } from '../../src-renderer/src/i18n/es.ts';

describe('readable errors', () => {
  it('says how much credit is left on a 402, in the user language and format', () => {
    const err = errorFromBody(
      {
        error: 'INSUFFICIENT_CREDITS',
        message: 'Not enough credits',
        details: { balance: 30_000, required: 50_000 },
      },
      402,
    );
    const r = describeError(es, 'es', err);
    expect(r.message).toBe('Crédito insuficiente: tienes 0,03 créditos disponibles. Recarga para seguir.');
    expect(r.message).not.toContain('INSUFFICIENT_CREDITS');
    expect(r.technical).toBe('Not enough credits');
  });

  it('does not ask for a top-up when overage is refused because the hosted ledger is out of reach', () => {
    const err = errorFromBody(
      {
        error: 'INSUFFICIENT_CREDITS',
        message: 'this desktop has not synced with the hosted ledger since …',
        details: { balance: 10_000_000, required: 50_000, reason: 'ledger_offline' },
      },
      402,
    );
    expect(describeError(es, 'es', err).message).toBe(es.errors.overageOffline);
    expect(describeError(en, 'en', err).message).toBe(en.errors.overageOffline);
    expect(describeError(en, 'en', err).message).not.toMatch(/top up to continue/i);
  });

  it('says when to retry a 429, from Retry-After or from the details', () => {
    const fromHeader = errorFromBody({ error: 'RATE_LIMITED', message: 'x' }, 429, '7');
    expect(describeError(en, 'en', fromHeader).message).toBe('Too many requests in a row. Retry in 7 s.');
    const fromDetails = errorFromBody({ error: 'RATE_LIMITED', message: 'x', details: { retryAfterS: 3 } });
    expect(describeError(es, 'es', fromDetails).message).toBe(
      'Demasiadas solicitudes seguidas. Reintenta en 3 s.',
    );
    expect(describeError(es, 'es', errorFromBody({ error: 'RATE_LIMITED', message: 'x' })).message).toBe(
      es.errors.RATE_LIMITED,
    );
  });

  it('names the invalid fields of a VALIDATION_ERROR', () => {
    const err = new ClientError({
      error: 'VALIDATION_ERROR',
      message: 'Invalid input',
      details: { issues: [{ path: ['to'] }, { path: ['to'] }, { instancePath: '/text' }] },
    });
    const r = describeError(en, 'en', err);
    expect(r.fields).toEqual(['to', 'text']);
    expect(r.message).toContain('Fields to check: to, text');
  });

  it('treats a network failure as the engine not answering, and an odd body by its status', () => {
    expect(describeError(en, 'en', new TypeError('fetch failed')).message).toBe(en.errors.UNAVAILABLE);
    expect(errorFromBody('<html>', 403).code).toBe('PLAN_LIMIT');
    expect(errorFromBody(undefined, 502).code).toBe('INTERNAL_ERROR');
    expect(codeForStatus(404)).toBe('NOT_FOUND');
  });
});
