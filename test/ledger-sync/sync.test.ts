// The desktop's sync against the real hosted ledger (in-process, PGlite in memory, port 0): link,
// push, pull, corrections from the server's authority, idempotent repeats on both sides.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { LedgerCorrectedEvent } from '../../src-engine/contracts/ledger-sync.ts';
import { SYNC_PUSH_MAX } from '../../src-engine/contracts/sync.ts';
import { createCharges } from '../../src-engine/ledger/charges.ts';
import { createLedger } from '../../src-engine/ledger/ledger.ts';
import { createOrganization } from '../../src-engine/ledger/orgs.ts';
import { createQuotas } from '../../src-engine/ledger/quota.ts';
import { manualClock } from '../support/temp-database.ts';
import type { LedgerServer } from '../../src-ledger/server.ts';
import {
  authorityOf,
  client,
  localUsageIds,
  outboxSize,
  serverUsageIds,
  startTestLedger,
  testDesktop,
  type TestDesktop,
  C,
} from './support.ts';

let server: LedgerServer;
let admin: ReturnType<typeof client>;
let desk: TestDesktop;
let orgId: string;

// One server for the file; every test has its own org and desktop.
beforeAll(async () => {
  server = await startTestLedger(undefined);
  admin = client(server.url);
});
afterAll(() => server?.close());
beforeEach(async () => {
  orgId = (await admin.createOrg('Agencia Sol')).id;
  const { token } = await admin.issueDevice(orgId);
  desk = testDesktop({ url: server.url, token });
});
afterEach(() => desk?.dispose());

const corrections = () =>
  desk.events
    .filter((e): e is LedgerCorrectedEvent => e.type === 'ledger.corrected')
    .map((e) => e.correction);

describe('ledger sync', () => {
  it('links on the first sync: the local org gets the server org id, plan and cycle', async () => {
    const result = await desk.sync.run();
    expect(result).toMatchObject({ ok: true, pushed: 0, pulled: 0 });
    const org = desk.sqlite.prepare(`SELECT id, plan_id, cycle_start FROM organizations`).all();
    const auth = await authorityOf(server, orgId);
    expect(org).toEqual([{ id: orgId, plan_id: 'free', cycle_start: auth.cycleAnchor }]);
    expect(desk.sync.status()).toMatchObject({ orgId, balanceMicro: 0, pendingEntries: 0, offline: false });
    expect(desk.sync.health()).toMatchObject({
      status: 'healthy',
      reason: expect.stringMatching(/^last sync \d{4}-/),
    });
  });

  it("keeps the server's billing anchor, not the current cycle's start (an anchor on the 31st)", async () => {
    // Cycles are anniversaries of Jan 31: Feb 28, Mar 31, Apr 30... A device that took a clamped
    // start (Feb 28) as its anchor would start every later cycle on the 28th, days early.
    const anchor = Date.UTC(2025, 0, 31, 9, 30);
    await server.database.db.execute(sql`UPDATE orgs SET cycle_start = ${anchor} WHERE id = ${orgId}`);
    const cycleStart = () => desk.sqlite.prepare(`SELECT cycle_start AS s FROM organizations`).get();
    await desk.sync.run();
    expect(cycleStart()).toEqual({ s: anchor });
    desk.sqlite.prepare(`UPDATE organizations SET cycle_start = ?`).run(Date.UTC(2025, 1, 28, 9, 30));
    await desk.sync.run();
    expect(cycleStart()).toEqual({ s: anchor });
  });

  it('round trip: top-ups come down, usage goes up in seq order, balances agree, verify ok on both sides', async () => {
    await desk.sync.run();
    const topUp = await admin.topUp(orgId, 10 * C);
    await desk.sync.run();
    expect(desk.ledger.getTransfer(topUp.transfer.id)).toMatchObject({ kind: 'TOPUP', amountMicro: 10 * C });
    expect(desk.ledger.balance(orgId).postedMicro).toBe(10 * C);

    // 2,500 usage entries: three pushes (1,000 + 1,000 + 500), in seq order.
    const used = desk.use(orgId, 2500, 1000);
    const seqs = desk.sqlite.prepare(`SELECT seq FROM ledger_outbox ORDER BY seq`).all() as { seq: number }[];
    expect(seqs).toHaveLength(2500);
    expect(seqs.every((s, i) => i === 0 || s.seq > seqs[i - 1]!.seq)).toBe(true);
    const r = await desk.sync.run();
    expect(r).toMatchObject({ ok: true, pushed: 2500, rejected: 0, corrections: 0 });
    expect(outboxSize(desk.sqlite)).toBe(0);

    const onServer = await serverUsageIds(server, orgId);
    expect([...onServer.keys()].sort()).toEqual([...used].sort());
    expect([...onServer.values()].every((n) => n === 1)).toBe(true);
    const auth = await authorityOf(server, orgId);
    expect(auth.balanceMicro).toBe(10 * C - 2500 * 1000);
    expect(desk.ledger.balance(orgId).postedMicro).toBe(auth.balanceMicro);
    expect(desk.ledger.verify().ok).toBe(true);
    expect((await server.verify()).ok).toBe(true);
    // The device's last pushed seq is the outbox's last.
    expect(desk.sqlite.prepare(`SELECT last_pushed_seq AS s FROM ledger_sync_state`).get()).toEqual({
      s: seqs.at(-1)!.seq,
    });
    expect(SYNC_PUSH_MAX).toBe(1000);
  });

  it('corrects balance, plan, cycle and usage from the server, each with a ledger.corrected event', async () => {
    await desk.sync.run();
    // Credit granted only locally (e.g. `seed --credits`) is not the server's: the correction takes it back.
    desk.ledger.transfer({
      id: randomUUID(),
      orgId,
      kind: 'ADJUSTMENT',
      amountMicro: 5 * C,
      reference: 'local',
    });
    // The local cycle anchor and counters drifted.
    desk.sqlite.prepare(`UPDATE organizations SET cycle_start = cycle_start - 86400000 * 40`).run();
    await admin.topUp(orgId, 20 * C);
    const upgraded = await admin.admin('POST', `/v1/admin/orgs/${orgId}/plan`, { planId: 'starter' });
    expect(upgraded.status).toBe(200);

    // Local usage not yet pushed when the answer comes: kept out of the correction.
    const r = await desk.sync.run();
    expect(r.ok).toBe(true);
    const auth = await authorityOf(server, orgId);
    expect(auth.plan.id).toBe('starter');
    expect(auth.balanceMicro).toBe(5 * C); // 20 - 15 for the plan
    expect(desk.ledger.balance(orgId).postedMicro).toBe(auth.balanceMicro);
    expect(desk.sqlite.prepare(`SELECT plan_id, cycle_start FROM organizations`).get()).toEqual({
      plan_id: 'starter',
      cycle_start: auth.cycleAnchor,
    });
    const found = corrections();
    expect(found).toContainEqual({ what: 'plan', from: 'free', to: 'starter' });
    expect(found).toContainEqual(expect.objectContaining({ what: 'cycle', to: auth.cycle.cycle }));
    expect(found).toContainEqual(
      expect.objectContaining({ what: 'balance', fromMicro: 5 * C + 20 * C - 15 * C, toMicro: 5 * C }),
    );
    const fix = found.find((c) => c.what === 'balance')!;
    expect(desk.ledger.getTransfer((fix as { transferId: string }).transferId)).toMatchObject({
      kind: 'ADJUSTMENT',
      amountMicro: -5 * C,
      reference: expect.stringMatching(/^hosted ledger: balance correction/),
    });
    // The correction is append-only bookkeeping: nothing edited, everything balanced, nothing pushed.
    expect(desk.ledger.verify().ok).toBe(true);
    expect(outboxSize(desk.sqlite)).toBe(0);

    // The server's counters win when they are ahead (usage the server knows of, e.g. another desktop).
    const { token } = await admin.issueDevice(orgId, 'second desk');
    const other = await fetch(`${server.url}/v1/sync/push`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        lastPushedSeq: 0,
        entries: [],
        usage: { cycle: auth.cycle.cycle, messages: 7, aiRuns: 1 },
      }),
    });
    expect(other.status).toBe(200);
    await desk.sync.run();
    expect(corrections()).toContainEqual({
      what: 'usage',
      cycle: auth.cycle.cycle,
      from: { messages: 0, aiRuns: 0 },
      to: { messages: 7, aiRuns: 1 },
    });
    // A sync with nothing new corrects nothing.
    const before = desk.events.length;
    expect(await desk.sync.run()).toMatchObject({ ok: true, corrections: 0 });
    expect(desk.events.filter((e) => e.type === 'ledger.corrected').length).toBe(
      desk.events.slice(0, before).filter((e) => e.type === 'ledger.corrected').length,
    );
  });

  it("reports its own usage, not the org-wide count it was raised to: two desktops' messages add up", async () => {
    await desk.sync.run();
    const { token } = await admin.issueDevice(orgId, 'second desk');
    const cycle = (await authorityOf(server, orgId)).cycle.cycle;
    /** The other desktop reports what it has sent itself so far. */
    const otherSent = async (messages: number) => {
      const res = await fetch(`${server.url}/v1/sync/push`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ lastPushedSeq: 0, entries: [], deviceUsage: { cycle, messages, aiRuns: 0 } }),
      });
      expect(res.status).toBe(200);
    };
    await otherSent(7);
    await desk.sync.run(); // raised to the org's 7
    expect(desk.sqlite.prepare(`SELECT messages, own_messages AS own FROM usage_counters`).get()).toEqual({
      messages: 7,
      own: 0,
    });
    // This desk sends two messages (within the plan: free), the other three more: the org has done 12
    // (with the max of the two desktops' views it would be 10).
    const charges = createCharges({ sqlite: desk.sqlite, ledger: desk.ledger });
    for (const n of [1, 2]) {
      const a = desk.sqlite.transaction(() =>
        charges.admit(orgId, 'message', { reference: `message:${n}`, ttlMs: 60_000 }),
      )();
      charges.settle(a, 'success');
    }
    await otherSent(10);
    await desk.sync.run();
    expect((await authorityOf(server, orgId)).usage.messages).toBe(12);
    expect(desk.sqlite.prepare(`SELECT messages, own_messages AS own FROM usage_counters`).get()).toEqual({
      messages: 12,
      own: 2,
    });
    // Syncing again adds nothing: each desktop's own count is kept once (its max), not added per push.
    await desk.sync.run();
    expect((await authorityOf(server, orgId)).usage.messages).toBe(12);
  });

  it('a desktop given a new token (a second device of the org) does not count its cycle twice: A -> B -> A', async () => {
    const tokenA = (await admin.issueDevice(orgId, 'desk A')).token;
    const tokenB = (await admin.issueDevice(orgId, 'desk B')).token;
    desk.dispose();
    desk = testDesktop({ url: server.url, token: tokenA });
    const charges = createCharges({ sqlite: desk.sqlite, ledger: desk.ledger });
    /** This desktop does work within the plan (free): its own counters go up. */
    const work = (unit: 'message' | 'ai_run', n: number) => {
      for (let i = 0; i < n; i++) {
        const a = desk.sqlite.transaction(() =>
          charges.admit(orgId, unit, { reference: `${unit}:${randomUUID()}`, ttlMs: 60_000 }),
        )();
        charges.settle(a, 'success');
      }
    };
    const own = () =>
      desk.sqlite.prepare(`SELECT own_messages AS messages, own_ai_runs AS aiRuns FROM usage_counters`).get();
    const serverUsage = async () => (await authorityOf(server, orgId)).usage;
    const perDevice = async () =>
      (await server.database.db.execute(
        sql`SELECT d.name, u.messages, u.ai_runs AS "aiRuns" FROM device_usage u JOIN devices d ON d.id = u.device_id
            WHERE u.org_id = ${orgId} ORDER BY d.name`,
      )) as unknown as { rows: { name: string; messages: number; aiRuns: number }[] };

    await desk.sync.run();
    work('message', 3);
    work('ai_run', 1);
    await desk.sync.run();
    expect(await serverUsage()).toEqual({ messages: 3, aiRuns: 1 });

    // The engine restarts with token B: B reports only what A has not (it would report 5, on top of A's 3).
    desk.useToken(tokenB);
    work('message', 2);
    await desk.sync.run();
    expect(own()).toEqual({ messages: 5, aiRuns: 1 });
    expect(await serverUsage()).toEqual({ messages: 5, aiRuns: 1 });

    // Back to A: A's report grows by what was done since, B's stays what it was.
    desk.useToken(tokenA);
    work('message', 4);
    await desk.sync.run();
    expect(own()).toEqual({ messages: 9, aiRuns: 1 });
    expect(await serverUsage()).toEqual({ messages: 9, aiRuns: 1 });

    // The same token at another spelling of LEDGER_URL (a new state row) is still device A: its new
    // work is counted, not hidden under what A already reported.
    desk.useToken(tokenA, `${server.url}/`);
    work('message', 1);
    await desk.sync.run();
    expect(await serverUsage()).toEqual({ messages: 10, aiRuns: 1 });
    expect((await perDevice()).rows).toEqual([
      { name: 'desk A', messages: 8, aiRuns: 1 },
      { name: 'desk B', messages: 2, aiRuns: 0 },
    ]);

    // B again: A's two rows are one device, counted once at its highest report (8), not 7 + 8.
    desk.useToken(tokenB);
    work('message', 3);
    await desk.sync.run();
    expect(own()).toEqual({ messages: 13, aiRuns: 1 });
    expect((await perDevice()).rows).toEqual([
      { name: 'desk A', messages: 8, aiRuns: 1 },
      { name: 'desk B', messages: 5, aiRuns: 0 },
    ]);
    expect(await serverUsage()).toEqual({ messages: 13, aiRuns: 1 });
  });

  it("a desktop clock 10 minutes fast: its usage is pushed on the server's clock, not refused", async () => {
    desk.dispose();
    let fast = 0;
    desk = testDesktop({
      url: server.url,
      token: (await admin.issueDevice(orgId, 'fast clock')).token,
      now: () => Date.now() + fast,
    });
    await admin.topUp(orgId, 1 * C);
    await desk.sync.run(); // linked, with the clock right
    // The clock jumps 10 minutes ahead: the offset measured at the last sync is stale, so the first
    // push is refused as ahead of the server; the same run pushes it again on the clock it measured.
    fast = 10 * 60_000;
    const first = desk.use(orgId, 2);
    expect(await desk.sync.run()).toMatchObject({ ok: true, pushed: 2, rejected: 0 });
    const later = desk.use(orgId, 3);
    expect(await desk.sync.run()).toMatchObject({ ok: true, pushed: 3, rejected: 0 });
    expect([...(await serverUsageIds(server, orgId)).keys()].sort()).toEqual([...first, ...later].sort());
    const times = (await server.database.db.execute(
      sql`SELECT created_at::bigint AS at FROM ledger_transfers WHERE org_id = ${orgId} AND source = 'device'`,
    )) as unknown as { rows: { at: string }[] };
    expect(times.rows).toHaveLength(5);
    for (const { at } of times.rows) expect(Math.abs(Number(at) - Date.now())).toBeLessThan(60_000);
    expect(outboxSize(desk.sqlite)).toBe(0);
    expect(desk.events.filter((e) => e.type === 'alert.raised')).toEqual([]);
  });

  it('usage written while the clock ran ahead, pushed after it was put right: sent at the time it is now', async () => {
    desk.dispose();
    let fast = 0;
    let pushes = 0;
    desk = testDesktop({
      url: server.url,
      token: (await admin.issueDevice(orgId, 'clock put right')).token,
      now: () => Date.now() + fast,
      fetch: (url, init) => {
        if (String(url).includes('/v1/sync/push')) pushes++;
        return fetch(url, init);
      },
    });
    await admin.topUp(orgId, 1 * C);
    await desk.sync.run();
    fast = 2 * 3_600_000; // offline, two hours fast: the entry is stamped then
    const ahead = desk.use(orgId, 1);
    fast = 0; // the clock is put right before the next sync
    pushes = 0;
    // It went out stamped two hours ahead on every push (the offset now measured is ~0), was refused
    // each time, and the run pushed it 100 times; now it goes at this clock's time, once.
    expect(await desk.sync.run()).toMatchObject({ ok: true, pushed: 1, rejected: 0 });
    expect(pushes).toBe(1);
    expect([...(await serverUsageIds(server, orgId)).keys()]).toEqual(expect.arrayContaining(ahead));
    expect(outboxSize(desk.sqlite)).toBe(0);
  });

  it("a desktop clock 40 days slow: its first push is refused as too old, goes again on the server's clock", async () => {
    desk.dispose();
    const slow = -40 * 86_400_000;
    let pushes = 0;
    desk = testDesktop({
      url: server.url,
      token: (await admin.issueDevice(orgId, 'slow clock')).token,
      now: () => Date.now() + slow,
      fetch: (url, init) => {
        if (String(url).includes('/v1/sync/push')) pushes++;
        return fetch(url, init);
      },
    });
    await admin.topUp(orgId, 1 * C);
    // Seeded with the server's id (`seed --org-id`) and used before the first sync ever measured the
    // clock: stamped 40 days behind the server. One entry is really 40 days old (on this clock too):
    // that one is refused whatever the clock. Another is refused for its id (UUIDv5, the server's
    // own) as well: it goes again once, then is settled, so the run does not loop on it.
    createOrganization(
      { sqlite: desk.sqlite, now: () => Date.now() + slow },
      { id: orgId, name: 'Agencia Sol', planId: 'free' },
    );
    const used = desk.use(orgId, 2);
    const reallyOld = randomUUID();
    createLedger({ sqlite: desk.sqlite, now: () => Date.now() + slow - 40 * 86_400_000 }).transfer(
      { id: reallyOld, orgId, kind: 'USAGE_MESSAGE', amountMicro: 50_000 },
      { force: true },
    );
    const serversId = `${randomUUID().slice(0, 14)}5${randomUUID().slice(15)}`;
    desk.ledger.transfer(
      { id: serversId, orgId, kind: 'USAGE_MESSAGE', amountMicro: 50_000 },
      { force: true },
    );
    // Link (one empty push), the push refused as too old, and the same entries once more on the clock
    // it measured; the really old one is not sent again.
    expect(await desk.sync.run()).toMatchObject({ ok: true, pushed: 2, rejected: 2 });
    expect(pushes).toBe(3);
    expect([...(await serverUsageIds(server, orgId)).keys()].sort()).toEqual([...used].sort());
    const times = (await server.database.db.execute(
      sql`SELECT created_at::bigint AS at FROM ledger_transfers WHERE org_id = ${orgId} AND source = 'device'`,
    )) as unknown as { rows: { at: string }[] };
    for (const { at } of times.rows) expect(Math.abs(Number(at) - Date.now())).toBeLessThan(60_000);
    expect(outboxSize(desk.sqlite)).toBe(0);
    expect(desk.sqlite.prepare(`SELECT kind, message FROM alerts WHERE org_id = ?`).all(orgId)).toEqual([
      {
        kind: 'ledger_rejected',
        message: expect.stringContaining(
          `rejected 2 local usage entries (first: ${reallyOld}, VALIDATION_ERROR`,
        ),
      },
    ]);
    expect(desk.ledger.balance(orgId).postedMicro).toBe((await authorityOf(server, orgId)).balanceMicro);
    expect((await authorityOf(server, orgId)).balanceMicro).toBe(1 * C - 100_000);

    // Later usage goes on the offset measured then, at the first push.
    pushes = 0;
    const later = desk.use(orgId, 1);
    expect(await desk.sync.run()).toMatchObject({ ok: true, pushed: 1, rejected: 0 });
    expect(pushes).toBe(1);
    expect([...(await serverUsageIds(server, orgId)).keys()]).toEqual(expect.arrayContaining(later));
  });

  it('local usage not yet acknowledged stays counted: local = server balance - unpushed usage', async () => {
    await desk.sync.run();
    await admin.topUp(orgId, 3 * C);
    await desk.sync.run();
    // Usage posted while a sync is under way (right after its push): the server has not seen it when
    // the corrections are made.
    let during = false;
    desk.dispose();
    desk = testDesktop({
      url: server.url,
      token: (await admin.issueDevice(orgId, 'desk 2')).token,
      fetch: async (url, init) => {
        const res = await fetch(url, init);
        if (during && String(url).includes('/v1/sync/push')) {
          during = false;
          desk.use(orgId, 4, 100_000);
        }
        return res;
      },
    });
    await desk.sync.run();
    expect(desk.ledger.balance(orgId).postedMicro).toBe(3 * C);
    during = true;
    expect(await desk.sync.run()).toMatchObject({ ok: true, pushed: 0, corrections: 0 });
    expect(outboxSize(desk.sqlite)).toBe(4);
    expect((await authorityOf(server, orgId)).balanceMicro).toBe(3 * C);
    expect(desk.ledger.balance(orgId).postedMicro).toBe(3 * C - 400_000);
    // The next sync pushes them; both sides agree again, still without a correction.
    expect(await desk.sync.run()).toMatchObject({ ok: true, pushed: 4, corrections: 0 });
    expect((await authorityOf(server, orgId)).balanceMicro).toBe(3 * C - 400_000);
    expect(corrections().filter((c) => c.what === 'balance')).toEqual([]);
  });

  it('idempotent: pulling everything again and re-pushing settled entries change nothing', async () => {
    await desk.sync.run();
    await admin.topUp(orgId, 10 * C);
    const used = desk.use(orgId, 30, 10_000);
    await desk.sync.run();
    const transfers = () =>
      (desk.sqlite.prepare(`SELECT count(*) AS n FROM ledger_transfers`).get() as { n: number }).n;
    const count = transfers();
    const balance = desk.ledger.balance(orgId).postedMicro;

    // Forget the cursor (the same entries come down again) and put every pushed entry back in the
    // outbox (as if every answer had been lost).
    desk.sqlite.prepare(`UPDATE ledger_sync_state SET cursor = NULL`).run();
    const put = desk.sqlite.prepare(
      `INSERT INTO ledger_outbox (transfer_id, org_id, created_at) VALUES (?, ?, ?)`,
    );
    for (const id of used) put.run(id, orgId, Date.now());
    const r = await desk.sync.run();
    expect(r).toMatchObject({ ok: true, pushed: 30, rejected: 0, pulled: 0, corrections: 0 });
    expect(transfers()).toBe(count);
    expect(desk.ledger.balance(orgId).postedMicro).toBe(balance);
    const onServer = await serverUsageIds(server, orgId);
    expect(onServer.size).toBe(30);
    expect([...onServer.values()].every((n) => n === 1)).toBe(true);
    expect((await authorityOf(server, orgId)).balanceMicro).toBe(balance);
    expect(localUsageIds(desk.sqlite, orgId)).toHaveLength(30);
  });

  it('entries the server rejects leave the outbox, raise one alert, and the server balance stands', async () => {
    await desk.sync.run();
    await admin.topUp(orgId, 1 * C);
    await desk.sync.run();
    // Usage stamped 40 days ago: outside the protocol's bounds.
    const old = Date.now() - 40 * 86_400_000;
    createLedger({ sqlite: desk.sqlite, now: () => old }).transfer({
      id: randomUUID(),
      orgId,
      kind: 'USAGE_MESSAGE',
      amountMicro: 50_000,
    });
    expect(outboxSize(desk.sqlite)).toBe(1);
    const r = await desk.sync.run();
    expect(r).toMatchObject({ ok: true, pushed: 0, rejected: 1, corrections: 1 });
    // The local debit the server never took is given back by the correction.
    expect(corrections()).toContainEqual(
      expect.objectContaining({ what: 'balance', fromMicro: 1 * C - 50_000, toMicro: 1 * C }),
    );
    expect(desk.ledger.verify().ok).toBe(true);
    expect(outboxSize(desk.sqlite)).toBe(0);
    const alerts = desk.sqlite.prepare(`SELECT kind, message FROM alerts WHERE org_id = ?`).all(orgId) as {
      kind: string;
      message: string;
    }[];
    expect(alerts).toEqual([
      {
        kind: 'ledger_rejected',
        message: expect.stringMatching(/rejected 1 local usage entry .*VALIDATION_ERROR/),
      },
    ]);
    expect(desk.ledger.balance(orgId).postedMicro).toBe((await authorityOf(server, orgId)).balanceMicro);
  });

  it('offline past the grace period: overage refused (quota still goes) until a sync succeeds again', async () => {
    let t = Date.now();
    const { token } = await admin.issueDevice(orgId, 'clocked desk');
    const d = testDesktop({ url: server.url, token, now: () => t, graceH: 72 });
    try {
      await admin.topUp(orgId, 1 * C);
      await d.sync.run();
      const synced = new Date(t).toISOString();
      const charges = createCharges({
        sqlite: d.sqlite,
        ledger: d.ledger,
        now: () => t,
        overage: d.sync.overageRefusal,
      });
      d.sqlite.prepare(`UPDATE plans SET messages_included = 1 WHERE id = 'free'`).run();
      const admit = (n: number) =>
        d.sqlite.transaction(() =>
          charges.admit(orgId, 'message', { reference: `message:${n}`, ttlMs: 60_000 }),
        )();

      t += 71 * 3_600_000;
      expect(d.sync.overageRefusal(orgId)).toBeNull();
      expect(d.sync.health()).toEqual({
        status: 'healthy',
        reason: `last sync ${synced}`,
        detail: { code: 'ledger_synced', at: Date.parse(synced) },
      });
      t += 2 * 3_600_000;
      expect(d.sync.health()).toEqual({
        status: 'unhealthy',
        reason: `this desktop has not synced with the hosted ledger since ${synced} (more than LEDGER_OFFLINE_GRACE_H = 72 h): overage refused`,
        detail: { code: 'ledger_offline', since: Date.parse(synced), everSynced: true, graceH: 72 },
      });
      expect(admit(1)).toMatchObject({ free: true });
      expect(() => admit(2)).toThrow(
        /Overage is paused: this desktop has not synced with the hosted ledger since/,
      );
      expect(d.ledger.balance(orgId).pendingMicro).toBe(0);
      expect(d.sync.checkOffline()).toBe(true);
      d.sync.checkOffline();
      expect(d.sqlite.prepare(`SELECT kind FROM alerts WHERE org_id = ?`).all(orgId)).toEqual([
        { kind: 'ledger_offline' },
      ]);

      // Back in touch: overage is charged again.
      await d.sync.run();
      expect(d.sync.overageRefusal(orgId)).toBeNull();
      expect(d.sync.health().status).toBe('healthy');
      d.sqlite.prepare(`UPDATE plans SET messages_included = 1 WHERE id = 'free'`).run();
      expect(admit(3)).toMatchObject({ free: false });
    } finally {
      d.dispose();
    }
  });
});

describe('a desktop that counted before its first sync', () => {
  it("moves what it counted under its own anchor into the server's cycle, where a later cycle of the old name does not find it", async () => {
    const clock = manualClock(Date.UTC(2026, 1, 17, 10)); // Feb 17
    const own = await startTestLedger(undefined, { now: clock.now });
    const ownAdmin = client(own.url);
    const id = (await ownAdmin.createOrg('Agencia Luna')).id;
    // The server's anchor: Jan 20, so its cycle now is 2026-01 (Jan 20 - Feb 20).
    await own.database.db.execute(
      sql`UPDATE orgs SET cycle_start = ${Date.UTC(2026, 0, 20, 9)} WHERE id = ${id}`,
    );
    const d = testDesktop({ url: own.url, token: (await ownAdmin.issueDevice(id)).token, now: clock.now });
    try {
      // Seeded with the server's id before any sync (`seed --org-id`): its own anchor, today, so its
      // cycle is 2026-02. 30 messages sent and one still queued, all counted under 2026-02.
      createOrganization({ sqlite: d.sqlite, now: clock.now }, { id, name: 'Agencia Luna', planId: 'free' });
      const charges = createCharges({ sqlite: d.sqlite, ledger: d.ledger, now: clock.now });
      const admit = () =>
        d.sqlite.transaction(() =>
          charges.admit(id, 'message', { reference: `message:${randomUUID()}`, ttlMs: 86_400_000 }),
        )();
      for (let i = 0; i < 30; i++) charges.settle(admit(), 'success');
      const queued = admit();
      d.sqlite
        .prepare(
          `INSERT INTO sent_messages (id, org_id, "to", text, status, free, cycle, created_at)
           VALUES ('m-queued', ?, '5215512345678', 'Hola', 'queued', 1, ?, ?)`,
        )
        .run(id, queued.cycle, clock.now());
      const counters = () =>
        d.sqlite
          .prepare(
            `SELECT cycle, messages, messages_held AS held, own_messages AS own FROM usage_counters ORDER BY cycle`,
          )
          .all();
      expect(counters()).toEqual([{ cycle: '2026-02', messages: 30, held: 1, own: 30 }]);

      expect(await d.sync.run()).toMatchObject({ ok: true });
      expect(counters()).toEqual([{ cycle: '2026-01', messages: 30, held: 1, own: 30 }]);
      expect(d.sqlite.prepare(`SELECT cycle FROM sent_messages WHERE id = 'm-queued'`).get()).toEqual({
        cycle: '2026-01',
      });
      // The first push still carried the old label: the server kept no count under it.
      const serverCounts = async () =>
        (
          (await own.database.db.execute(
            sql`SELECT cycle, messages FROM usage_counters WHERE org_id = ${id} ORDER BY cycle`,
          )) as unknown as { rows: { cycle: string; messages: number }[] }
        ).rows;
      expect(await serverCounts()).toEqual([]);
      await d.sync.run();
      expect(await serverCounts()).toEqual([{ cycle: '2026-01', messages: 30 }]);

      // Feb 21: the server's 2026-02 cycle begins, with nothing used on either side.
      clock.set(Date.UTC(2026, 1, 21, 10));
      await d.sync.run();
      expect(createQuotas({ sqlite: d.sqlite, now: clock.now }).usage(id)).toMatchObject({
        cycle: '2026-02',
        messages: 0,
      });
      expect((await authorityOf(own, id)).usage).toEqual({ messages: 0, aiRuns: 0 });
    } finally {
      d.dispose();
      await own.close();
    }
  });
});
