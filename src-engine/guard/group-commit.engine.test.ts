import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { until } from '../../test/support/process.ts';
import { startTestEngine, type TestEngine } from '../../test/support/test-engine.ts';
import type { EngineEvent } from '../contracts/events.ts';

// Group commit through the real engine: sends made in the same tick share one transaction. Without
// the write journal each answer and event waits for that transaction's COMMIT; with it (the running
// engine) each comes as soon as its own unit is journaled.

let t: TestEngine;
afterEach(async () => {
  await t.dispose();
});

const send = (key: string, body: Record<string, unknown> = {}) =>
  t.engine.call('whatsapp:send', { instanceId: 'auto', to: '5215512345678', text: 'Hola', ...body }, key);

const count = (sql: string, ...args: unknown[]) =>
  (t.engine.db.sqlite.prepare(sql).get(...args) as { n: number }).n;

/** What another process sees: sent_messages committed so far. */
function committedMessages(): number {
  const db = new Database(join(t.dir, 'engine.db'), { readonly: true });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM sent_messages`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** The message ids in the guard's journal file (acknowledged, not yet committed). */
function journaledMessages(): string[] {
  let text: string;
  try {
    text = readFileSync(join(t.dir, 'engine.db.guard-log'), 'utf8');
  } catch {
    return [];
  }
  return [...text.matchAll(/"id":"([0-9a-f-]{36})","orgId"/g)].map((m) => m[1]!);
}

/** Events as they are emitted, with the messages committed and journaled at that moment. */
function watch(): { type: string; committed: number; journaled: string[] }[] {
  const seen: { type: string; committed: number; journaled: string[] }[] = [];
  t.engine.events.on((e: EngineEvent) =>
    seen.push({ type: e.type, committed: committedMessages(), journaled: journaledMessages() }),
  );
  return seen;
}

describe.each([
  { journal: false, mode: 'COMMIT before answers' },
  { journal: true, mode: 'write journal' },
])('group commit in the guard ($mode)', ({ journal }) => {
  beforeEach(async () => {
    t = await startTestEngine({}, { journal });
  });

  it('a batch where one send has no credit: that one gets 402, the others are queued and held', async () => {
    t.engine.db.sqlite.prepare(`UPDATE plans SET messages_included = 0 WHERE id = 'free'`).run();
    const price = t.engine.quotas.price('message.overage');
    const org = await t.org({ plan: 'free', credits: String((4 * price) / 1_000_000) });
    const seen = watch();

    const results = await Promise.allSettled(Array.from({ length: 5 }, () => send(org.apiKey)));
    // The refusal came before the send wrote anything: the batch is still open (a send that failed
    // after writing would have had the journal roll the batch back, apply it again and commit it).
    if (journal) expect(committedMessages()).toBe(0);

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
    // One hold event per kept send. Without a journal, the first event came once all four were
    // committed; with it, each came once its own send was journaled, before the batch committed.
    const reserved = seen.filter((e) => e.type === 'ledger.reserved');
    expect(reserved).toHaveLength(4);
    expect(seen.filter((e) => e.type === 'job.queued')).toHaveLength(4);
    if (journal) {
      expect(reserved.map((e) => e.journaled.length)).toEqual([1, 2, 3, 4]);
      expect(reserved.every((e) => e.committed === 0)).toBe(true);
      await until('the batch to commit', () => committedMessages() === 4);
    } else {
      expect(seen.every((e) => e.committed === 4 && e.journaled.length === 0)).toBe(true);
    }
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
    if (!journal) expect(seen.every((e) => e.committed === 2)).toBe(true);
    // Every message named by an answer was journaled or committed before that answer.
    else expect(seen.every((e) => e.committed + e.journaled.length >= 1)).toBe(true);
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
