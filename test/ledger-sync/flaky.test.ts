// The sync through a loopback proxy that delays, drops (before and after the server did the work)
// and duplicates requests: no entry lost, none counted twice, and both sides agree on the balance.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrganization } from '../../src-engine/ledger/orgs.ts';
import type { LedgerServer } from '../../src-ledger/server.ts';
import { startFlakyProxy, type FlakyProxy } from '../support/flaky-proxy.ts';
import {
  authorityOf,
  client,
  localUsageIds,
  outboxSize,
  serverUsageIds,
  startTestLedger,
  testDesktop,
  C,
} from './support.ts';

let server: LedgerServer;
let proxy: FlakyProxy;

beforeAll(async () => {
  server = await startTestLedger(undefined);
  proxy = await startFlakyProxy({
    target: server.url,
    seed: 7,
    dropBefore: 0.2,
    dropAfter: 0.2,
    duplicate: 0.3,
    maxDelayMs: 20,
  });
});
afterAll(async () => {
  await proxy?.close();
  await server?.close();
});

describe('sync through a flaky network', () => {
  it('loses nothing and counts nothing twice', async () => {
    const admin = client(server.url);
    const orgId = (await admin.createOrg('Flaky')).id;
    const { token } = await admin.issueDevice(orgId);
    const desk = testDesktop({ url: proxy.url, token, retry: { attempts: 4, baseMs: 5, maxMs: 50 } });
    try {
      // The local org made with the server's id up front (what `seed --org-id` does).
      createOrganization(desk, { id: orgId, name: 'Flaky', planId: 'free' });
      let failedRuns = 0;
      for (let round = 0; round < 8; round++) {
        desk.use(orgId, 300, 1_000 + round);
        await admin.topUp(orgId, C);
        // A run may give up after its retries: the next one carries on where it stopped.
        await desk.sync.run().catch(() => failedRuns++);
      }
      proxy.set({ dropBefore: 0, dropAfter: 0, duplicate: 0.3 });
      expect(await desk.sync.run()).toMatchObject({ ok: true });
      expect(outboxSize(desk.sqlite)).toBe(0);

      const local = localUsageIds(desk.sqlite, orgId);
      const onServer = await serverUsageIds(server, orgId);
      expect(local).toHaveLength(2400);
      expect([...onServer.keys()].sort()).toEqual([...local].sort());
      expect([...onServer.values()].every((n) => n === 1)).toBe(true);
      // Every top-up came down exactly once.
      expect(
        desk.sqlite.prepare(`SELECT count(*) AS n FROM ledger_transfers WHERE kind = 'TOPUP'`).get(),
      ).toEqual({
        n: 8,
      });
      const usedMicro = Array.from({ length: 8 }, (_, r) => 300 * (1_000 + r)).reduce((a, b) => a + b);
      const auth = await authorityOf(server, orgId);
      expect(auth.balanceMicro).toBe(8 * C - usedMicro);
      expect(desk.ledger.balance(orgId).postedMicro).toBe(auth.balanceMicro);
      expect(desk.ledger.verify().ok).toBe(true);
      expect((await server.verify()).ok).toBe(true);
      // The proxy did misbehave, in every way.
      expect(proxy.stats.droppedBefore).toBeGreaterThan(0);
      expect(proxy.stats.droppedAfter).toBeGreaterThan(0);
      expect(proxy.stats.duplicated).toBeGreaterThan(0);
      console.log(`flaky proxy: ${JSON.stringify(proxy.stats)}, sync runs that gave up: ${failedRuns}`);
    } finally {
      desk.dispose();
    }
  });

  it('retries 5xx and 429 answers, waiting at least what Retry-After asks', async () => {
    const admin = client(server.url);
    const orgId = (await admin.createOrg('Busy')).id;
    const { token } = await admin.issueDevice(orgId);
    const gate = await startFlakyProxy({ target: server.url });
    const desk = testDesktop({ url: gate.url, token, retry: { attempts: 4, baseMs: 5, maxMs: 5_000 } });
    try {
      gate.failNext(2, 503);
      expect(await desk.sync.run()).toMatchObject({ ok: true });
      expect(gate.stats.forwarded).toBeGreaterThan(0);

      desk.use(orgId, 3, 1_000);
      gate.failNext(1, 429, { 'retry-after': '1' });
      const started = Date.now();
      expect(await desk.sync.run()).toMatchObject({ ok: true, pushed: 3 });
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);

      // More failures than tries: the run gives up, says why, and the entries wait in the outbox.
      desk.use(orgId, 2, 1_000);
      gate.failNext(4, 502);
      await expect(desk.sync.run()).rejects.toThrow(/answered 502: .*\(after 4 tries\)/);
      expect(desk.sync.status()).toMatchObject({
        pendingEntries: 2,
        lastError: expect.stringMatching(/502/),
      });
      expect(await desk.sync.run()).toMatchObject({ ok: true, pushed: 2 });
      expect(desk.sync.status()).toMatchObject({ pendingEntries: 0, lastError: null });
    } finally {
      desk.dispose();
      await gate.close();
    }
  });
});
