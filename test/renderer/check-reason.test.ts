import { describe, expect, it } from 'vitest';
import type { Check, CheckDetail } from '../../src-engine/contracts/health.ts';
import { formatDateTime } from '../../src-renderer/src/format.ts';
import { checkReasonText } from '../../src-renderer/src/i18n/check-reason.ts';
import { en } from '../../src-renderer/src/i18n/en.ts';
import { es } from '../../src-renderer/src/i18n/es.ts';

const check = (detail: CheckDetail, reason = 'the engine’s English text'): Check => ({
  status: 'unhealthy',
  reason,
  detail,
});
const at = Date.UTC(2026, 10, 20, 15, 30);

describe('why a connection check is as it is, in words', () => {
  it('says each reason in Spanish and English, with its figures', () => {
    expect(checkReasonText(es, 'es', check({ code: 'not_configured', setting: 'EVOLUTION_URL' }))).toBe(
      'Sin configurar (EVOLUTION_URL)',
    );
    expect(checkReasonText(en, 'en', check({ code: 'unreachable', error: 'fetch failed' }))).toBe(
      'Not answering: fetch failed',
    );
    expect(
      checkReasonText(
        es,
        'es',
        check({ code: 'cage_runtime_missing', runtime: 'runsc', available: ['runc'] }),
      ),
    ).toBe('CAGE_RUNTIME es «runsc», pero Docker no lo tiene (tiene: runc)');
    expect(
      checkReasonText(en, 'en', check({ code: 'cage_ready', image: 'agencia-cage:1', runtime: 'runsc' })),
    ).toBe('Image agencia-cage:1 ready, runtime runsc');
    const offline = checkReasonText(
      es,
      'es',
      check({ code: 'ledger_offline', since: at, everSynced: true, graceH: 72, lastError: 'HTTP 503' }),
    );
    expect(offline).toBe(
      `Sin sincronizar desde ${formatDateTime(at, 'es')} (más de 72 h): no se aceptan excedentes; el último intento falló: HTTP 503`,
    );
    expect(checkReasonText(en, 'en', check({ code: 'ledger_not_synced_yet' }))).toBe('Not synced yet');
  });

  it('has Spanish words for every code, never the engine’s English text', () => {
    const details: CheckDetail[] = [
      { code: 'not_configured', setting: 'LEDGER_URL' },
      { code: 'unreachable', error: 'x' },
      { code: 'docker_unreachable', error: 'x' },
      { code: 'cage_image_missing', image: 'img' },
      { code: 'cage_runtime_missing', runtime: 'r', available: [] },
      { code: 'cage_ready', image: 'img' },
      { code: 'ledger_synced', at },
      { code: 'ledger_not_synced_yet' },
      { code: 'ledger_offline', since: at, everSynced: false, graceH: 1.5 },
    ];
    for (const detail of details) {
      const said = checkReasonText(es, 'es', check(detail));
      expect(said, detail.code).toBeTruthy();
      expect(said).not.toBe(checkReasonText(en, 'en', check(detail)));
      expect(said).not.toContain('English');
    }
  });

  it('shows the text of an engine that sends no detail as it is', () => {
    expect(checkReasonText(es, 'es', { status: 'healthy', reason: 'all fine' })).toBe('all fine');
    expect(checkReasonText(es, 'es', { status: 'healthy' })).toBeUndefined();
  });
});
