import { describe, expect, it } from 'vitest';
import { EVOLUTION_ERROR_KINDS } from '../../src-engine/gateways/evolution/index.ts';
import { deadLetterErrorText } from '../../src-renderer/src/i18n/dead-letter-error.ts';
import { en } from '../../src-renderer/src/i18n/en.ts';
import { es } from '../../src-renderer/src/i18n/es.ts';

describe('why a job failed for good, in words', () => {
  it('says every Evolution failure and our own codes in Spanish and English', () => {
    for (const kind of EVOLUTION_ERROR_KINDS) {
      const code = `evolution.${kind}`;
      const said = deadLetterErrorText(es, { errorCode: code });
      expect(said, code).toBeTruthy();
      expect(said).not.toBe(deadLetterErrorText(en, { errorCode: code }));
    }
    expect(deadLetterErrorText(es, { errorCode: 'evolution.not_on_whatsapp' })).toBe(
      'El número no tiene WhatsApp.',
    );
    expect(deadLetterErrorText(en, { errorCode: 'whatsapp.unconfirmed' })).toBe(
      'Evolution did not answer and WhatsApp did not confirm the send.',
    );
    expect(deadLetterErrorText(es, { errorCode: 'job.timeout' })).toBe(
      'El trabajo tardó demasiado y se detuvo.',
    );
  });

  it('uses the general sentence for an engine error code, and none for what it has no words for', () => {
    expect(deadLetterErrorText(es, { errorCode: 'INSUFFICIENT_CREDITS' })).toBe(
      es.errors.INSUFFICIENT_CREDITS,
    );
    expect(deadLetterErrorText(es, {})).toBeUndefined();
    expect(deadLetterErrorText(es, { errorCode: 'cage.exploded' })).toBeUndefined();
    // Keys of the dictionary that are not codes never pass for one.
    expect(deadLetterErrorText(es, { errorCode: 'title' })).toBeUndefined();
    expect(deadLetterErrorText(es, { errorCode: 'rateLimitedFor' })).toBeUndefined();
  });
});
