import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestEngine, type TestEngine } from '../../test/support/test-engine.ts';
import type { EngineEvent } from '../contracts/events.ts';

// Group commit through the real engine: sends made in the same tick share one transaction.

let t: TestEngine;
beforeEach(async () => {
  t = await startTestEngine();
});
afterEach(async () => {
  await t.dispose();
});

const send = (key: string, body: Record<string, unknown> = {}) =>
  t.engine.call('whatsapp:send', { instanceId: 'auto', to: '5215512345678', text: 'Hola', ...body }, key);

const count = (sql: string, ...args: unknown[]) =>
  (t.engine.db.sqlite.prepare(sql).get(...args) as { n: number }).n;

/** Events as they are emitted, each with how many messages were committed at that moment. */
function watch(): { type: string; messages: number }[] {
  const seen: { type: string; messages: number }[] = [];
  t.engine.events.on((e: EngineEvent) =>
    seen.push({ type: e.type, messages: count(`SELECT count(*) AS n FROM sent_messages`) }),
  );
  return seen;
}

describe('group commit in the guard', () => {
  it('a batch where one send has no credit: that one gets 402, the others are queued and held', async () => {
    t.engine.db.sqlite.prepare(`UPDATE plans SET messages_included = 0 WHERE id = 'free'`).run();
    const price = t.engine.quotas.price('message.overage');
    const org = await t.org({ plan: 'free', credits: String((4 * price) / 1_000_000) });
    const seen = watch();

    const results = await Promise.allSettled(Array.from({ length: 5 }, () => send(org.apiKey)));

    expect(results.map((r) => r.status).sort()).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'rejected',
    ]);
    const refused = results.find((r) => r.status === 'rejected')!;
    expect(refused.reason).toMatchObject({ code: 'INSUFFICIENT_CREDITS' });
    expect(count(`SELECT count(*) AS n FROM sent_messages`)).toBe(4);
    expect((await t.engine.queue.counts('whatsapp.send')).waiting).toBe(4);
    expect(t.engine.ledger.balance(org.orgId)).toMatchObject({ pendingMicro: 4 * price, availableMicro: 0 });
    expect(count(`SELECT messages_held AS n FROM usage_counters WHERE org_id = ?`, org.orgId)).toBe(4);
    expect(t.engine.ledger.verify().ok).toBe(true);
    // One transaction: the first event came when all four were committed; one hold event per kept send.
    expect(seen.filter((e) => e.type === 'ledger.reserved')).toHaveLength(4);
    expect(seen.filter((e) => e.type === 'job.queued')).toHaveLength(4);
    expect(seen.every((e) => e.messages === 4)).toBe(true);
  });

  it('idempotency twins in one batch resolve to one message, one job and one hold', async () => {
    t.engine.db.sqlite.prepare(`UPDATE plans SET messages_included = 0 WHERE id = 'free'`).run();
    const org = await t.org({ plan: 'free', credits: '1' });
    const key = randomUUID();
    const seen = watch();

    const results = await Promise.all([
      send(org.apiKey, { idempotencyKey: key }),
      send(org.apiKey, { idempotencyKey: key }),
      send(org.apiKey),
      send(org.apiKey, { idempotencyKey: key, priority: 'normal' }),
    ]);

    expect(results[1]).toEqual(results[0]);
    expect(results[3]).toEqual(results[0]);
    expect(results[2]!.messageId).not.toBe(results[0]!.messageId);
    expect(count(`SELECT count(*) AS n FROM sent_messages WHERE idempotency_key = ?`, key)).toBe(1);
    expect(count(`SELECT count(*) AS n FROM sent_messages`)).toBe(2);
    expect((await t.engine.queue.counts('whatsapp.send')).waiting).toBe(2);
    expect(count(`SELECT count(*) AS n FROM reservations WHERE state = 'pending'`)).toBe(2);
    expect(seen.filter((e) => e.type === 'job.queued')).toHaveLength(2);
    expect(seen.every((e) => e.messages === 2)).toBe(true);
  });

  it('a twin with another body in the same batch is a CONFLICT and leaves nothing', async () => {
    const org = await t.org({ plan: 'starter' });
    const key = randomUUID();
    const [first, second] = await Promise.allSettled([
      send(org.apiKey, { idempotencyKey: key }),
      send(org.apiKey, { idempotencyKey: key, text: 'otro texto' }),
    ]);
    expect(first.status).toBe('fulfilled');
    expect(second).toMatchObject({ status: 'rejected', reason: { code: 'CONFLICT' } });
    expect(count(`SELECT count(*) AS n FROM sent_messages`)).toBe(1);
    expect(count(`SELECT messages_held AS n FROM usage_counters WHERE org_id = ?`, org.orgId)).toBe(1);
  });
});
