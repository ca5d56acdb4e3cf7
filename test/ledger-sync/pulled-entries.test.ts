// Entries pulled from the hosted ledger keep the server's time, so the cycle report puts a commission
// in the cycle it was earned in; a reversed commission (a signed ADJUSTMENT locally) takes its amount off.
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { PulledEntry } from '../../src-engine/contracts/sync.ts';
import { createAuthority } from '../../src-engine/ledger/sync/authority.ts';
import { startTestEngine, type TestEngine } from '../support/test-engine.ts';

const DAY = 86_400_000;
let t: TestEngine;
beforeEach(async () => {
  t = await startTestEngine();
});
afterEach(() => t.dispose());

it('a pulled commission counts in the cycle of its server time, and a reversal takes it off', async () => {
  const org = await t.org({ plan: 'starter' });
  const now = Date.now();
  // The current cycle began 10 days ago.
  t.engine.db.sqlite
    .prepare(`UPDATE organizations SET cycle_start = ? WHERE id = ?`)
    .run(now - 10 * DAY, org.orgId);
  const entry = (amountMicro: number, ago: number, reference: string): PulledEntry => ({
    id: randomUUID(),
    kind: 'COMMISSION',
    amountMicro,
    reference,
    createdAt: now - ago,
  });
  const pulled = [
    entry(3_000_000, 15 * DAY, 'last cycle'),
    entry(2_000_000, 5 * DAY, 'this cycle'),
    entry(-1_000_000, 1 * DAY, 'reversed in this cycle'),
  ];
  const authority = createAuthority({
    sqlite: t.engine.db.sqlite,
    ledger: t.engine.ledger,
    now: Date.now,
    newId: randomUUID,
  });
  t.engine.db.sqlite.transaction(() => authority.applyPulled(org.orgId, pulled))();

  const { commissions } = await t.engine.call('billing:balance', {}, org.apiKey);
  expect(commissions).toEqual({ amountMicro: 1_000_000, count: 1 });
  // The statement shows each at its server time, newest first.
  const { items } = await t.engine.call('billing:transactions', {}, org.apiKey);
  const times = items.filter((i) => pulled.some((p) => p.id === i.id)).map((i) => i.createdAt);
  expect(times).toEqual([now - DAY, now - 5 * DAY, now - 15 * DAY]);
});
