import { describe, expect, it } from 'vitest';
import { HEALTH_REASON } from '../../src-engine/contracts/smartsend.ts';
import { en } from '../../src-renderer/src/i18n/en.ts';
import { es } from '../../src-renderer/src/i18n/es.ts';
import { healthReasonText } from '../../src-renderer/src/i18n/health-reason.ts';

describe('why a number changed health, in words', () => {
  it('says each reason SmartSend writes in Spanish and English, with its figures', () => {
    expect(healthReasonText(es, 'es', HEALTH_REASON.closed(401))).toBe(
      'WhatsApp cerró la sesión (código 401)',
    );
    expect(healthReasonText(en, 'en', HEALTH_REASON.closed(403))).toBe(
      'WhatsApp closed the session (code 403)',
    );
    expect(healthReasonText(es, 'es', HEALTH_REASON.added)).toBe('Número nuevo: empieza el calentamiento');
    expect(healthReasonText(es, 'es', HEALTH_REASON.errorAcks(3, 11))).toBe(
      '3 envíos con error en los últimos 11',
    );
    expect(healthReasonText(en, 'en', HEALTH_REASON.failureRatio(0.3, 10))).toBe(
      '30% failures in the last 10 sends',
    );
    expect(healthReasonText(es, 'es', HEALTH_REASON.failureRatio(0.3, 10))).toBe(
      '30\u00a0% de fallos en los últimos 10 envíos',
    );
  });

  it('has words for every fixed reason, never the English text in the Spanish UI', () => {
    for (const v of Object.values(HEALTH_REASON)) {
      if (typeof v !== 'string') continue;
      const said = healthReasonText(es, 'es', v);
      expect(said).not.toBe(v);
      expect(said).not.toBe(healthReasonText(en, 'en', v));
    }
  });

  it('shows a reason of another shape as it is', () => {
    expect(healthReasonText(es, 'es', 'paired again by the operator')).toBe('paired again by the operator');
  });
});
