// A whole engine whose hosted ledger is out of reach past the grace period (0 h here, so at once):
// quota-covered messages still go, overage is refused with a 402 that says why, the health check is
// unhealthy and one alert explains it.
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../src-engine/errors.ts';
import { startTestEngine, type TestEngine } from '../support/test-engine.ts';
import { until } from './support.ts';

let t: TestEngine | undefined;
afterEach(async () => {
  await t?.dispose();
  t = undefined;
});

const send = (i: number) => ({
  instanceId: 'auto',
  to: `52155${String(i).padStart(8, '0')}`,
  text: `Hola ${i}`,
});

describe('offline past LEDGER_OFFLINE_GRACE_H', () => {
  it('refuses overage (402 saying why), still sends quota-covered messages, alerts once, health unhealthy', async () => {
    t = await startTestEngine(
      {
        // Nothing listens on port 9: every sync attempt fails.
        LEDGER_URL: 'http://127.0.0.1:9',
        LEDGER_TOKEN: 'device-token-for-an-unreachable-ledger',
        LEDGER_OFFLINE_GRACE_H: '0',
        LEDGER_SYNC_INTERVAL_S: '1',
      },
      { exclusive: true },
    );
    const org = await t.org({ plan: 'free', credits: '10' });
    t.engine.db.sqlite.prepare(`UPDATE plans SET messages_included = 2 WHERE id = 'free'`).run();

    for (const i of [1, 2]) {
      await expect(t.engine.call('whatsapp:send', send(i), org.apiKey)).resolves.toMatchObject({
        status: 'queued',
      });
    }
    const refused = await t.engine.call('whatsapp:send', send(3), org.apiKey).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({
      code: 'INSUFFICIENT_CREDITS',
      details: { reason: 'ledger_offline', required: 50_000 },
    });
    expect((refused as AppError).message).toMatch(
      /not synced with the hosted ledger since .*LEDGER_OFFLINE_GRACE_H/,
    );
    // Credit was there: only the offline rule refused it, and nothing was held.
    expect(t.engine.ledger.balance(org.orgId)).toMatchObject({ availableMicro: 10_000_000, pendingMicro: 0 });

    const alerts = () =>
      t!.engine.db.sqlite
        .prepare(`SELECT kind, message FROM alerts WHERE org_id = ? AND kind = 'ledger_offline'`)
        .all(org.orgId) as { kind: string; message: string }[];
    // The first failed sync run raises it.
    await until('the offline alert', () => alerts().length > 0);

    const health = await t.engine.health();
    expect(health.checks.ledger).toMatchObject({ status: 'unhealthy' });
    expect(health.checks.ledger!.reason).toMatch(
      /since sync was set up at .*overage refused; last attempt failed: cannot reach the hosted ledger/,
    );

    // Checked again (as every later run does): still offline, still the one alert.
    expect(t.engine.ledgerSync!.checkOffline()).toBe(true);
    expect(alerts()).toHaveLength(1);
    expect(alerts()[0]!.message).toMatch(/Overage is refused: this desktop has not synced/);
  });

  it('without LEDGER_URL the ledger check is disabled and overage is charged as usual', async () => {
    t = await startTestEngine();
    const org = await t.org({ plan: 'free', credits: '10' });
    t.engine.db.sqlite.prepare(`UPDATE plans SET messages_included = 0 WHERE id = 'free'`).run();
    await expect(t.engine.call('whatsapp:send', send(1), org.apiKey)).resolves.toMatchObject({
      status: 'queued',
    });
    expect(t.engine.ledger.balance(org.orgId).pendingMicro).toBe(50_000);
    expect((await t.engine.health()).checks.ledger).toMatchObject({ status: 'disabled' });
    expect(t.engine.ledgerSync).toBeUndefined();
  });
});
