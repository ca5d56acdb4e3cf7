import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type {
  HostedOrg,
  Posted,
  ReferralsReport,
  Statement,
} from '../../src-engine/contracts/hosted-ledger.ts';
import type { Plan } from '../../src-engine/contracts/ledger.ts';
import {
  SYNC_MAX_AGE_MS,
  SYNC_MAX_SKEW_MS,
  type PullResponse,
  type PushResponse,
} from '../../src-engine/contracts/sync.ts';
import { deterministicId } from '../../src-ledger/ids.ts';
import type { LedgerServer } from '../../src-ledger/server.ts';
import { manualClock } from '../support/temp-database.ts';
import { BACKENDS, C, client, startTestLedger, usageEntries, useBackend } from './support.ts';

const DAY = 86_400_000;

describe.each(BACKENDS)('hosted ledger API on %s', (backend) => {
  const source = useBackend(backend);
  let server: LedgerServer;
  let api: ReturnType<typeof client>;
  const clock = manualClock(Date.UTC(2026, 0, 10, 12));

  beforeEach(async () => {
    clock.set(Date.UTC(2026, 0, 10, 12));
    server = await startTestLedger(await source.databaseUrl(), { now: clock.now });
    api = client(server.url);
  });
  afterEach(async () => {
    await server.close();
  });

  const push = (token: string, body: unknown) => api.call<PushResponse>('POST', '/v1/sync/push', token, body);
  const pull = (token: string, query = '') => api.call<PullResponse>('GET', `/v1/sync/pull${query}`, token);

  it('seeds the plans with the desktop seed ids and figures', async () => {
    const { body } = await api.call<{ plans: Plan[] }>('GET', '/v1/plans');
    const seed = readFileSync(
      join(import.meta.dirname, '../../src-engine/db/migrations/0002_seed.sql'),
      'utf8',
    );
    expect(
      body.plans.map((p) => [
        p.id,
        p.priceMicro,
        p.messagesIncluded,
        p.aiRunsIncluded,
        p.maxInstances,
        p.whiteLabel,
        p.rateLimitPerMin,
      ]),
    ).toEqual([
      ['free', 0, 50, 1, 1, false, 60],
      ['starter', 15 * C, 2000, null, 1, false, 120],
      ['partner', 199 * C, 50_000, null, 10, true, 600],
    ]);
    for (const p of body.plans) {
      expect(seed).toContain(
        `('${p.id}', '${p.name}', ${p.priceMicro}, ${p.messagesIncluded}, ${p.aiRunsIncluded ?? 'NULL'}, ${p.maxInstances}, ${p.whiteLabel ? 1 : 0}, ${p.rateLimitPerMin}, ${p.overdraftMicro}`,
      );
    }
  });

  it('answers 401 without a token, with a bad one, with a revoked one, and closes admin routes to device tokens', async () => {
    const org = await api.createOrg('A');
    const dev = await api.issueDevice(org.id);
    expect((await pull('')).status).toBe(401);
    expect((await pull('ldt_nope.nope')).status).toBe(401);
    expect((await pull(`${dev.token.slice(0, -2)}xx`)).status).toBe(401);
    expect((await pull(dev.token)).status).toBe(200);
    expect((await api.call('POST', '/v1/admin/orgs', dev.token, { name: 'x' })).status).toBe(401);
    expect(
      (await api.call('POST', '/v1/admin/orgs', 'wrong-admin-token-000000000', { name: 'x' })).body,
    ).toMatchObject({
      error: 'UNAUTHORIZED',
    });
    await api.admin('POST', `/v1/admin/devices/${dev.deviceId}/revoke`);
    expect((await pull(dev.token)).status).toBe(401);
  });

  it("keeps orgs apart: org A's token never reads or writes org B's data", async () => {
    const a = await api.createOrg('A');
    const b = await api.createOrg('B');
    const ta = (await api.issueDevice(a.id)).token;
    const tb = (await api.issueDevice(b.id)).token;
    await api.topUp(b.id, 5 * C);
    const pushed = await push(ta, { lastPushedSeq: 0, entries: usageEntries(3, 1, clock.now()) });
    expect(pushed.body.orgId).toBe(a.id);
    expect(pushed.body.balanceMicro).toBe(-150_000);
    // A's pull sees nothing of B's top-up; B's balance is untouched by A's usage.
    expect((await pull(ta)).body.entries).toEqual([]);
    expect((await pull(tb)).body.balanceMicro).toBe(5 * C);
    // B's reports are "not found" to A's device; its own are readable.
    for (const path of [`/v1/orgs/${b.id}/statement`, `/v1/orgs/${b.id}/referrals`]) {
      expect((await api.call('GET', path, ta)).body).toMatchObject({ error: 'NOT_FOUND' });
      expect((await api.call('GET', path, tb)).status).toBe(200);
    }
    // Re-pushing A's ids with B's token cannot move them into B: conflict, nothing written for B.
    const stolen = await push(tb, {
      lastPushedSeq: 0,
      entries: pushed.body.accepted.map((id, i) => ({ ...usageEntries(1, i + 1, clock.now())[0]!, id })),
    });
    expect(stolen.body.accepted).toEqual([]);
    expect(stolen.body.rejected.map((r) => r.error)).toEqual(['CONFLICT', 'CONFLICT', 'CONFLICT']);
    expect(stolen.body.balanceMicro).toBe(5 * C);
    expect((await server.verify()).ok).toBe(true);
  });

  it('top-ups are idempotent by id: a repeat returns the stored result, another body is 409', async () => {
    const org = await api.createOrg('A');
    const id = randomUUID();
    const first = await api.admin<Posted>('POST', `/v1/admin/orgs/${org.id}/topups`, {
      id,
      amountMicro: 10 * C,
    });
    const again = await api.admin<Posted>('POST', `/v1/admin/orgs/${org.id}/topups`, {
      id,
      amountMicro: 10 * C,
    });
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ ...first.body, created: false });
    const other = await api.admin('POST', `/v1/admin/orgs/${org.id}/topups`, { id, amountMicro: 11 * C });
    expect(other).toMatchObject({ status: 409, body: { error: 'CONFLICT' } });
    expect((await api.admin<HostedOrg>('GET', `/v1/admin/orgs/${org.id}`)).body.balanceMicro).toBe(10 * C);
  });

  it('push: accepts, repeats, rejects conflicts and out-of-bounds timestamps, keeps the max seq and usage', async () => {
    const org = await api.createOrg('A', { planId: 'starter' });
    const { token } = await api.issueDevice(org.id);
    await api.topUp(org.id, 10 * C);
    const now = clock.now();
    const batch = usageEntries(4, 1, now);
    const r1 = await push(token, {
      lastPushedSeq: 0,
      entries: batch,
      usage: { cycle: '2026-01', messages: 7, aiRuns: 1 },
    });
    expect(r1.status).toBe(200);
    expect(r1.body).toMatchObject({
      accepted: batch.map((e) => e.id),
      rejected: [],
      lastPushedSeq: 4,
      balanceMicro: 10 * C - 200_000,
    });
    expect(r1.body.plan.id).toBe('starter');
    expect(r1.body.cycle.cycle).toBe('2026-01');
    expect(r1.body.usage).toEqual({ messages: 7, aiRuns: 1 });
    expect(r1.body.serverTime).toBe(now);

    // The answer was "lost": the device pushes the same entries again plus new ones.
    const tooOld = { ...usageEntries(1, 5, now - SYNC_MAX_AGE_MS - 1)[0]! };
    const tooNew = { ...usageEntries(1, 6, now + SYNC_MAX_SKEW_MS + 1)[0]! };
    const changed = { ...batch[3]!, seq: 7, amountMicro: 1 };
    const edge = { ...usageEntries(1, 8, now + SYNC_MAX_SKEW_MS)[0]! };
    const r2 = await push(token, {
      lastPushedSeq: 0,
      entries: [...batch, tooOld, tooNew, changed, edge],
      usage: { cycle: '2026-01', messages: 5, aiRuns: 3 },
    });
    expect(r2.body.accepted).toEqual([...batch.map((e) => e.id), edge.id]);
    expect(r2.body.rejected).toEqual([
      { id: tooOld.id, seq: 5, error: 'VALIDATION_ERROR', message: expect.stringContaining('35 days') },
      { id: tooNew.id, seq: 6, error: 'VALIDATION_ERROR', message: expect.stringContaining('5 minutes') },
      { id: changed.id, seq: 7, error: 'CONFLICT', message: expect.any(String) },
    ]);
    expect(r2.body.lastPushedSeq).toBe(8);
    expect(r2.body.balanceMicro).toBe(10 * C - 250_000);
    expect(r2.body.usage).toEqual({ messages: 7, aiRuns: 3 });

    // An older lastPushedSeq never moves the server's back.
    const r3 = await push(token, { lastPushedSeq: 2, entries: [] });
    expect(r3.body.lastPushedSeq).toBe(8);

    // A stored entry sent again after 36 days offline (its answer was lost) is a repeat, not "too old";
    // another body under its id is still a conflict.
    clock.set(now + 36 * 86_400_000);
    const late = await push(token, {
      lastPushedSeq: 8,
      entries: [batch[0]!, { ...batch[1]!, amountMicro: 7 }],
    });
    expect(late.body.accepted).toEqual([batch[0]!.id]);
    expect(late.body.rejected).toEqual([
      { id: batch[1]!.id, seq: batch[1]!.seq, error: 'CONFLICT', message: expect.any(String) },
    ]);
    expect(late.body.balanceMicro).toBe(10 * C - 250_000);
    clock.set(now);

    // Bounds of the request itself.
    expect((await push(token, { lastPushedSeq: 8, entries: usageEntries(1001, 9, now) })).status).toBe(400);
    const unordered = [...usageEntries(2, 20, now)].reverse();
    expect((await push(token, { lastPushedSeq: 8, entries: unordered })).body).toMatchObject({
      error: 'VALIDATION_ERROR',
    });
    expect((await push(token, { lastPushedSeq: 8, entries: [{ ...batch[0]!, kind: 'TOPUP' }] })).status).toBe(
      400,
    );
    expect((await server.verify()).ok).toBe(true);
  });

  it('two desktops of one org: their own usage adds up; a late or repeated report never lowers it', async () => {
    const org = await api.createOrg('A', { planId: 'starter' });
    const [a, b] = [await api.issueDevice(org.id, 'desk a'), await api.issueDevice(org.id, 'desk b')];
    const report = (token: string, messages: number, aiRuns = 0) =>
      push(token, { lastPushedSeq: 0, entries: [], deviceUsage: { cycle: '2026-01', messages, aiRuns } });
    expect((await report(a.token, 30, 1)).body.usage).toEqual({ messages: 30, aiRuns: 1 });
    expect((await report(b.token, 25)).body.usage).toEqual({ messages: 55, aiRuns: 1 });
    // A's report from before its last one arrives late: A's count stays 30.
    expect((await report(a.token, 20)).body.usage).toEqual({ messages: 55, aiRuns: 1 });
    expect((await report(a.token, 32, 2)).body.usage).toEqual({ messages: 57, aiRuns: 2 });
    // An older desktop's org-wide counters (the max rule) never lower the sum, and can raise it.
    const legacy = (messages: number) =>
      push(b.token, { lastPushedSeq: 0, entries: [], usage: { cycle: '2026-01', messages, aiRuns: 0 } });
    expect((await legacy(40)).body.usage).toEqual({ messages: 57, aiRuns: 2 });
    expect((await legacy(60)).body.usage).toEqual({ messages: 60, aiRuns: 2 });
  });

  it("refuses a device entry under the server's own kind of id, so billing cannot be blocked by one", async () => {
    const org = await api.createOrg('Evil', { planId: 'starter' });
    await api.topUp(org.id, 100 * C);
    const { token } = await api.issueDevice(org.id);
    expect((await server.runBilling()).billed).toBe(1);
    // Next cycle's plan charge id is a UUIDv5 of names the device knows.
    clock.set(Date.UTC(2026, 1, 10, 12));
    const squat = {
      ...usageEntries(1, 1, clock.now(), 0)[0]!,
      id: deterministicId(`plan-charge:${org.id}:2026-02:starter`),
    };
    const r = await push(token, { lastPushedSeq: 0, entries: [squat] });
    expect(r.body.rejected).toEqual([
      { id: squat.id, seq: 1, error: 'VALIDATION_ERROR', message: expect.stringContaining('version 5') },
    ]);
    expect(await server.runBilling()).toMatchObject({ billed: 1, chargedMicro: 15 * C });
  });

  it('a balance past what one transfer may move still answers; usage counts are bounded and their sum clamped', async () => {
    const org = await api.createOrg('Big');
    const [a, b] = [await api.issueDevice(org.id, 'a'), await api.issueDevice(org.id, 'b')];
    const max = 1_000_000_000 * C;
    const r = await push(a.token, { lastPushedSeq: 0, entries: usageEntries(2, 1, clock.now(), max) });
    expect(r.status).toBe(200);
    expect(r.body.balanceMicro).toBe(-2 * max);
    expect((await pull(a.token)).status).toBe(200);
    expect((await api.admin<HostedOrg>('GET', `/v1/admin/orgs/${org.id}`)).body.balanceMicro).toBe(-2 * max);

    const report = (token: string, messages: number) =>
      push(token, { lastPushedSeq: 2, entries: [], deviceUsage: { cycle: '2026-01', messages, aiRuns: 0 } });
    expect((await report(a.token, 2 ** 31)).status).toBe(400);
    expect((await report(a.token, 2_000_000_000)).body.usage.messages).toBe(2_000_000_000);
    expect((await report(b.token, 2_000_000_000)).body.usage.messages).toBe(2_147_483_647);
  });

  it('the same push sent several times at once (a duplicating proxy) is stored once', async () => {
    const org = await api.createOrg('A');
    const { token } = await api.issueDevice(org.id);
    const body = { lastPushedSeq: 0, entries: usageEntries(200, 1, clock.now()) };
    const replies = await Promise.all([1, 2, 3, 4].map(() => push(token, body)));
    for (const r of replies) {
      expect(r.status).toBe(200);
      expect(r.body.accepted).toHaveLength(200);
    }
    expect((await pull(token)).body.balanceMicro).toBe(-200 * 50_000);
    expect((await server.verify()).ok).toBe(true);
  });

  it('pull: only server-written entries, signed from the org side, paged by an opaque cursor', async () => {
    const org = await api.createOrg('A');
    const { token } = await api.issueDevice(org.id);
    await push(token, { lastPushedSeq: 0, entries: usageEntries(2, 1, clock.now()) });
    const ids = [];
    for (let i = 1; i <= 5; i++) ids.push((await api.topUp(org.id, i * C)).transfer.id);
    await api.admin('POST', `/v1/admin/orgs/${org.id}/adjustments`, {
      id: randomUUID(),
      amountMicro: -C,
      reference: 'fix',
    });

    const p1 = await pull(token, '?limit=4');
    expect(p1.body.entries.map((e) => e.id)).toEqual(ids.slice(0, 4));
    expect(p1.body.hasMore).toBe(true);
    const p2 = await pull(token, `?limit=4&cursor=${p1.body.nextCursor}`);
    expect(p2.body.entries.map((e) => [e.kind, e.amountMicro])).toEqual([
      ['TOPUP', 5 * C],
      ['ADJUSTMENT', -C],
    ]);
    expect(p2.body.hasMore).toBe(false);
    const p3 = await pull(token, `?cursor=${p2.body.nextCursor}`);
    expect(p3.body).toMatchObject({ entries: [], nextCursor: p2.body.nextCursor, hasMore: false });
    expect(p3.body.balanceMicro).toBe(15 * C - C - 100_000);
    expect((await pull(token, '?cursor=abc')).status).toBe(400);
  });

  it('refuses UPDATE and DELETE of ledger rows at the database level', async () => {
    const org = await api.createOrg('A');
    await api.topUp(org.id, C);
    const db = server.database.db;
    // drizzle wraps the driver's error; the database's own message is its cause.
    const refusal = (q: Promise<unknown>) =>
      q.then(
        () => 'allowed',
        (e: Error & { cause?: Error }) => e.cause?.message ?? e.message,
      );
    expect(await refusal(db.execute(sql`UPDATE ledger_transfers SET amount_micro = 1`))).toMatch(
      /append-only/,
    );
    expect(await refusal(db.execute(sql`DELETE FROM ledger_entries`))).toMatch(/append-only/);
    expect(await refusal(db.execute(sql`TRUNCATE ledger_transfers CASCADE`))).toMatch(/append-only/);
    // Tampering with a cached balance is caught by verify.
    await db.execute(
      sql`UPDATE account_balances SET balance_micro = balance_micro + 1 WHERE account = 'credits'`,
    );
    const report = await server.verify();
    expect(report.ok).toBe(false);
    expect(report.balanceMismatches).toEqual([
      { account: `org:${org.id}:credits`, cachedMicro: C + 1, derivedMicro: C },
    ]);
  });

  it('bills each cycle once, pays 20 % / 5 % commissions up two levels, resets the counters', async () => {
    const top = await api.createOrg('Top', { planId: 'partner' });
    const mid = await api.createOrg('Mid', { planId: 'partner', referralCode: top.referralCode });
    const leaf = await api.createOrg('Leaf', { planId: 'starter', referralCode: mid.referralCode });
    for (const o of [top, mid, leaf]) await api.topUp(o.id, 1000 * C);
    const { token } = await api.issueDevice(leaf.id);
    await push(token, {
      lastPushedSeq: 0,
      entries: [],
      usage: { cycle: '2026-01', messages: 40, aiRuns: 0 },
    });

    const first = await server.runBilling();
    expect(first).toMatchObject({ billed: 3, downgraded: 0, chargedMicro: (199 + 199 + 15) * C });
    // mid -> top 20 % of 199; leaf -> mid 20 % of 15, leaf -> top 5 % of 15.
    const expected = { top: 39.8 * C + 0.75 * C, mid: 3 * C };
    expect(first.commissionsMicro).toBe(expected.top + expected.mid);
    expect(await server.runBilling()).toMatchObject({ billed: 0, chargedMicro: 0, commissionsMicro: 0 });

    const bal = async (o: HostedOrg) =>
      (await api.admin<HostedOrg>('GET', `/v1/admin/orgs/${o.id}`)).body.balanceMicro;
    expect(await bal(top)).toBe(1000 * C - 199 * C + expected.top);
    expect(await bal(mid)).toBe(1000 * C - 199 * C + expected.mid);
    expect(await bal(leaf)).toBe(1000 * C - 15 * C);

    const report = (await api.call<ReferralsReport>('GET', `/v1/orgs/${top.id}/referrals`, undefined)).status;
    expect(report).toBe(401);
    const r = (await api.admin<ReferralsReport>('GET', `/v1/orgs/${top.id}/referrals`)).body;
    expect(r.level1.map((o) => o.orgId)).toEqual([mid.id]);
    expect(r.level2).toEqual([{ orgId: leaf.id, name: 'Leaf', planId: 'starter', via: mid.id }]);
    expect(r.monthly).toEqual([
      { cycle: '2026-01', level1Micro: 39.8 * C, level2Micro: 0.75 * C, totalMicro: expected.top },
    ]);

    // Next month: charged again, counters start at zero.
    clock.set(Date.UTC(2026, 1, 10, 12));
    expect(await server.runBilling()).toMatchObject({ billed: 3, chargedMicro: (199 + 199 + 15) * C });
    const s = (await api.admin<Statement>('GET', `/v1/orgs/${leaf.id}/statement`)).body;
    expect(s.cycle.cycle).toBe('2026-02');
    expect(s.usage).toEqual({ messages: 0, aiRuns: 0 });
    expect(s.openingMicro).toBe(985 * C);
    expect(s.closingMicro).toBe(970 * C);
    expect(s.totals).toEqual({ PLAN_CHARGE: -15 * C });
    const jan = (await api.admin<Statement>('GET', `/v1/orgs/${leaf.id}/statement?cycle=2026-01`)).body;
    expect(jan.usage.messages).toBe(40);
    expect(jan.totals).toEqual({ TOPUP: 1000 * C, PLAN_CHARGE: -15 * C });
    expect((await server.verify()).ok).toBe(true);
  });

  it('plan changes: a downgrade waits for the next cycle, an upgrade is charged now, no credit means free', async () => {
    const org = await api.createOrg('A', { planId: 'starter' });
    const poor = await api.createOrg('Poor', { planId: 'starter' });
    await api.topUp(org.id, 300 * C);
    expect(await server.runBilling()).toMatchObject({ billed: 2, downgraded: 1, chargedMicro: 15 * C });
    expect((await api.admin<HostedOrg>('GET', `/v1/admin/orgs/${poor.id}`)).body.planId).toBe('free');

    // Upgrade now: pays the difference with what this cycle already paid.
    const up = await api.admin<HostedOrg>('POST', `/v1/admin/orgs/${org.id}/plan`, { planId: 'partner' });
    expect(up.body).toMatchObject({
      planId: 'partner',
      pendingPlanId: null,
      balanceMicro: 300 * C - 199 * C,
    });
    // Downgrade: refused now, scheduled for the next cycle.
    expect(
      (await api.admin('POST', `/v1/admin/orgs/${org.id}/plan`, { planId: 'starter', when: 'now' })).status,
    ).toBe(400);
    const down = await api.admin<HostedOrg>('POST', `/v1/admin/orgs/${org.id}/plan`, { planId: 'starter' });
    expect(down.body).toMatchObject({ planId: 'partner', pendingPlanId: 'starter' });
    expect(await server.runBilling()).toMatchObject({ billed: 0 });
    clock.set(Date.UTC(2026, 1, 10, 12));
    await server.runBilling();
    expect((await api.admin<HostedOrg>('GET', `/v1/admin/orgs/${org.id}`)).body).toMatchObject({
      planId: 'starter',
      pendingPlanId: null,
      balanceMicro: 300 * C - 199 * C - 15 * C,
    });
    // An upgrade without the credit for it is refused.
    expect(
      (await api.admin('POST', `/v1/admin/orgs/${poor.id}/plan`, { planId: 'partner' })).body,
    ).toMatchObject({
      error: 'INSUFFICIENT_CREDITS',
    });
    // Free only for the cycles it cannot pay: still none in February, credit for March.
    const poorNow = async () => (await api.admin<HostedOrg>('GET', `/v1/admin/orgs/${poor.id}`)).body;
    expect(await poorNow()).toMatchObject({ planId: 'free', pendingPlanId: 'starter' });
    await api.topUp(poor.id, 20 * C);
    clock.set(Date.UTC(2026, 2, 10, 12));
    expect(await server.runBilling()).toMatchObject({ billed: 2, downgraded: 0 });
    expect(await poorNow()).toMatchObject({ planId: 'starter', pendingPlanId: null, balanceMicro: 5 * C });
  });

  it('referral links: unknown codes, self-referral and cycles are refused', async () => {
    const a = await api.createOrg('A');
    const b = await api.createOrg('B', { referralCode: a.referralCode });
    const c = await api.createOrg('C', { referralCode: b.referralCode });
    expect((await api.admin('POST', '/v1/admin/orgs', { name: 'X', referralCode: 'nope-nope' })).status).toBe(
      404,
    );
    const link = (org: HostedOrg, code: string) =>
      api.admin('POST', `/v1/admin/orgs/${org.id}/referrer`, { referralCode: code });
    expect((await link(a, a.referralCode)).body).toMatchObject({
      error: 'VALIDATION_ERROR',
      message: expect.stringContaining('itself'),
    });
    expect((await link(a, c.referralCode)).body).toMatchObject({
      error: 'VALIDATION_ERROR',
      message: expect.stringContaining('cycle'),
    });
    expect((await link(c, a.referralCode)).body).toMatchObject({ error: 'CONFLICT' });
    const d = await api.createOrg('D');
    expect((await link(d, c.referralCode)).body).toMatchObject({ referredBy: c.id });
    expect((await link(d, c.referralCode)).status).toBe(200);
  });

  it('keeps the clock bounds relative to the server clock across days', async () => {
    const org = await api.createOrg('A');
    const { token } = await api.issueDevice(org.id);
    const at = clock.now();
    clock.advance(34 * DAY);
    expect(
      (await push(token, { lastPushedSeq: 0, entries: usageEntries(1, 1, at) })).body.accepted,
    ).toHaveLength(1);
    clock.advance(2 * DAY);
    expect(
      (await push(token, { lastPushedSeq: 1, entries: usageEntries(1, 2, at) })).body.rejected,
    ).toHaveLength(1);
  });
});
