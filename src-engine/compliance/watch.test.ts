import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../../test/support/process.ts';
import { startTestEngine, type TestEngine } from '../../test/support/test-engine.ts';
import type { EngineEvent } from '../contracts/events.ts';
import { createEventBus } from '../events.ts';
import { createLogger } from '../logger.ts';
import { watchCompliance } from './watch.ts';

const quiet = createLogger('engine', { level: 'silent' });
let t: TestEngine | undefined;
afterEach(async () => {
  await t?.dispose();
  t = undefined;
});

const alertKinds = (engine: TestEngine['engine'], orgId: string) =>
  engine.db.sqlite
    .prepare<[string], { kind: string }>(`SELECT kind FROM alerts WHERE org_id = ? ORDER BY created_at`)
    .all(orgId)
    .map((a) => a.kind);

describe('compliance watch', () => {
  it('raises the low-credit alert when an agent run holds the credit, not only after a send', async () => {
    t = await startTestEngine({ LOW_CREDIT_ALERT: '1' });
    const { orgId, apiKey } = await t.org({ plan: 'free', credits: '1.5' });
    // The Free plan's one included run: no credit moves, no alert.
    await t.engine.call('agents:run', { prompt: 'incluida' }, apiKey);
    await new Promise((resolve) => setImmediate(resolve));
    expect(alertKinds(t.engine, orgId)).toEqual([]);
    // The second is charged: its 1-credit hold leaves 0.5 available, under LOW_CREDIT_ALERT = 1.
    await t.engine.call('agents:run', { prompt: 'de pago' }, apiKey);
    await until('the low-credit alert', () => alertKinds(t!.engine, orgId).includes('low_credit'), 5_000);
    expect(alertKinds(t.engine, orgId)).toEqual(['low_credit']);
  });

  it('checks an org past its thresholds without writing: the guard batch stays open', async () => {
    t = await startTestEngine({ LOW_CREDIT_ALERT: '1' }, { exclusive: true });
    const { orgId, apiKey } = await t.org({ plan: 'free', credits: '0.5' });
    t.engine.db.sqlite.prepare(`UPDATE plans SET messages_included = 1 WHERE id = 'free'`).run();
    t.engine.quotas.bumpUsage(orgId, { messages: 1 });
    expect(t.engine.compliance.checkOrg(orgId).map((a) => a.kind)).toEqual([
      'quota',
      'quota',
      'quota',
      'low_credit',
    ]);
    // A guarded send acknowledged from the journal: its batch commits a turn later.
    await t.engine.call('whatsapp:send', { instanceId: 'auto', to: '5215512345678', text: 'hola' }, apiKey);
    expect(t.engine.db.sqlite.inTransaction).toBe(true);
    expect(t.engine.compliance.checkOrg(orgId)).toEqual([]);
    // An INSERT that does nothing is still a write, and a write commits the batch (db/journal.ts).
    expect(t.engine.db.sqlite.inTransaction).toBe(true);
  });

  it('runs the checks still due when the engine closes, before its database does', async () => {
    t = await startTestEngine({ LOW_CREDIT_ALERT: '5' });
    const { orgId } = await t.org({ plan: 'free', credits: '1' });
    t.engine.ledger.transfer({ id: randomUUID(), orgId, kind: 'ADJUSTMENT', amountMicro: 1_000_000 });
    await t.engine.close(0);
    const db = new Database(join(t.dir, 'engine.db'), { readonly: true });
    try {
      const kinds = db.prepare(`SELECT kind FROM alerts WHERE org_id = ?`).all(orgId) as { kind: string }[];
      expect(kinds.map((k) => k.kind)).toEqual(['low_credit']);
    } finally {
      db.close();
    }
  });

  it('checks each org once per turn of the event loop; stopping runs what is due, then no more', async () => {
    const bus = createEventBus<EngineEvent>();
    const checked: string[] = [];
    const stop = watchCompliance({
      events: bus,
      compliance: { checkOrg: (o) => (checked.push(o), []) },
      log: quiet,
    });
    const posted = (orgId: string): EngineEvent => ({
      type: 'message.status',
      orgId,
      messageId: 'm',
      status: 'sent',
      ts: 0,
    });
    for (let i = 0; i < 100; i++) bus.emit(posted(i % 2 ? 'org-a' : 'org-b'));
    bus.emit({ type: 'job.queued', queue: 'whatsapp.send', jobId: 'j', orgId: 'org-c', ts: 0, runAt: 0 });
    expect(checked).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(checked.sort()).toEqual(['org-a', 'org-b']);

    bus.emit(posted('org-a'));
    stop();
    expect(checked).toHaveLength(3);
    bus.emit(posted('org-b'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(checked).toHaveLength(3);
  });
});
