import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src-ledger/books.ts';
import { plans } from '../../src-ledger/db/schema.ts';
import { changePlan, createOrg, issueDevice, postCredit } from '../../src-ledger/orgs.ts';
import { referralsReport } from '../../src-ledger/reports.ts';
import type { LedgerServer } from '../../src-ledger/server.ts';
import { push } from '../../src-ledger/sync.ts';
import { manualClock } from '../support/temp-database.ts';
import { BACKENDS, C, startTestLedger, usageEntries, useBackend } from './support.ts';

const ORGS = 1000;
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1, 9);
/** A plan whose price makes the 20 % and 5 % shares round (floor), to check the rounding too. */
const ODD = { id: 'odd', name: 'Odd', priceMicro: 12_345_679 };
const PRICE: Record<string, number> = { free: 0, starter: 15 * C, partner: 199 * C, odd: ODD.priceMicro };

/** xorshift32: the same tree every run. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

interface SimOrg {
  i: number;
  id: string;
  deviceId: string;
  parent: number | null;
  plan: string;
  rich: boolean;
  createdDay: number;
  upgradeTo?: string;
  downgradeTo?: string;
  /** What the simulation says the org paid. */
  paid: number[];
}

describe.each(BACKENDS)('a month of a 1,000-org referral tree on %s', (backend) => {
  const source = useBackend(backend);
  const clock = manualClock(T0);
  let server: LedgerServer;
  beforeAll(async () => {
    server = await startTestLedger(await source.databaseUrl(), { now: clock.now });
  }, 60_000);
  afterAll(() => server.close());

  it('pays commissions equal to an independent calculation, to the micro-credit', async () => {
    const db = server.database.db;
    await db.insert(plans).values({
      ...ODD,
      messagesIncluded: 500,
      aiRunsIncluded: null,
      maxInstances: 1,
      whiteLabel: false,
      rateLimitPerMin: 60,
      overdraftMicro: 0,
      updatedAt: 0,
    });
    const random = rng(20260101);
    const planIds = ['free', 'starter', 'partner', 'odd'];
    const sim: SimOrg[] = [];
    for (let i = 0; i < ORGS; i++) {
      // Mostly deep chains and bushy subtrees; 5 % roots.
      const parent = i === 0 || random() < 0.05 ? null : Math.floor(random() * i);
      sim.push({
        i,
        id: '',
        deviceId: '',
        parent,
        plan: planIds[Math.floor(random() * planIds.length)]!,
        rich: true,
        // Sign-ups spread over ten days, in index order, so a referrer always exists before its referees.
        createdDay: Math.floor((i * 10) / ORGS),
        paid: [],
      });
    }
    // Orgs without credit are leaves: what they are paid never depends on billing order.
    const hasChildren = new Set(sim.map((o) => o.parent).filter((p) => p !== null));
    for (const o of sim) {
      if (!hasChildren.has(o.i) && o.plan !== 'free' && random() < 0.2) o.rich = false;
      if (o.rich && o.plan === 'starter' && random() < 0.3) o.upgradeTo = 'partner';
      if (o.rich && o.plan === 'partner' && random() < 0.3) o.downgradeTo = 'odd';
    }

    // Day by day: orgs sign up (with their referrer's code), devices push usage, billing runs
    // every day (twice on some, and twice at once on others), upgrades on day 15, downgrades on day 20.
    const codes: string[] = [];
    for (let day = 0; day <= 45; day++) {
      clock.set(T0 + day * DAY);
      for (const o of sim.filter((x) => x.createdDay === day)) {
        clock.set(T0 + day * DAY + o.i * 1000);
        const parentCode = o.parent === null ? undefined : codes[o.parent];
        const org = await createOrg(
          db,
          { name: `org-${o.i}`, planId: o.plan, ...(parentCode ? { referralCode: parentCode } : {}) },
          clock.now(),
        );
        o.id = org.id;
        codes[o.i] = org.referralCode;
        o.deviceId = (await issueDevice(db, org.id, 'desk', clock.now())).deviceId;
        if (o.rich)
          await postCredit(db, org.id, 'TOPUP', { id: randomUUID(), amountMicro: 2000 * C }, clock.now());
      }
      clock.set(T0 + day * DAY + 12 * 3600_000);
      const pushers = day % 10 === 5 ? sim.filter((x) => x.id && x.i % 4 === day % 4) : [];
      for (const o of pushers) {
        await push(
          db,
          { deviceId: o.deviceId, orgId: o.id },
          { lastPushedSeq: 0, entries: usageEntries(3, day * 10 + 1, clock.now(), 50_000) },
          clock.now(),
        );
      }
      if (day === 15)
        for (const o of sim.filter((x) => x.upgradeTo))
          await changePlan(db, o.id, { planId: o.upgradeTo! }, clock.now());
      if (day === 20)
        for (const o of sim.filter((x) => x.downgradeTo))
          await changePlan(db, o.id, { planId: o.downgradeTo! }, clock.now());
      if (day % 5 === 0) await Promise.all([server.runBilling(), server.runBilling()]);
      else await server.runBilling();
      if (day % 3 === 0) expect((await server.runBilling()).billed).toBe(0);
    }
    expect(sim.every((o) => o.id)).toBe(true);

    // Independent calculation: each org pays its plan in each of its two cycles (created on day d:
    // cycle 1 billed the same day, cycle 2 a month later, before day 45) plus an upgrade's difference
    // on day 15, unless it has no credit; its referrer gets 20 % and the referrer's referrer 5 %.
    const parentOf = (o: SimOrg) => (o.parent === null ? null : sim[o.parent]!);
    for (const o of sim) {
      o.paid = [];
      if (!o.rich) continue;
      o.paid.push(PRICE[o.plan]!);
      let plan = o.plan;
      if (o.upgradeTo) {
        o.paid.push(PRICE[o.upgradeTo]! - PRICE[o.plan]!);
        plan = o.upgradeTo;
      }
      if (o.downgradeTo) plan = o.downgradeTo;
      o.paid.push(PRICE[plan]!);
    }
    const expected = new Map<string, { l1: number; l2: number }>(sim.map((o) => [o.id, { l1: 0, l2: 0 }]));
    const share = (amount: number, pct: bigint) => Number((BigInt(amount) * pct) / 100n);
    for (const o of sim) {
      const p1 = parentOf(o);
      const p2 = p1 ? parentOf(p1) : null;
      for (const amount of o.paid) {
        if (p1) expected.get(p1.id)!.l1 += share(amount, 20n);
        if (p2) expected.get(p2.id)!.l2 += share(amount, 5n);
      }
    }

    const rows = await queryRows<{ org_id: string; level: number; sum: string }>(
      db,
      sql`SELECT org_id, level, sum(amount_micro)::text AS sum FROM ledger_transfers WHERE kind = 'COMMISSION' GROUP BY org_id, level`,
    );
    const actual = new Map<string, { l1: number; l2: number }>(sim.map((o) => [o.id, { l1: 0, l2: 0 }]));
    for (const r of rows) actual.get(r.org_id)![Number(r.level) === 1 ? 'l1' : 'l2'] += Number(r.sum);
    expect(actual).toEqual(expected);
    const total = [...expected.values()].reduce((s, e) => s + e.l1 + e.l2, 0);
    expect(total).toBeGreaterThan(10_000 * C);

    // Charges: exactly what the simulation paid, and every poor org ended on free.
    const charges = await queryRows<{ org_id: string; sum: string; n: string }>(
      db,
      sql`SELECT org_id, sum(amount_micro)::text AS sum, count(*)::text AS n FROM ledger_transfers WHERE kind = 'PLAN_CHARGE' GROUP BY org_id`,
    );
    const charged = new Map(charges.map((c) => [c.org_id, Number(c.sum)]));
    for (const o of sim) expect(charged.get(o.id) ?? 0).toBe(o.paid.reduce((s, x) => s + x, 0));

    // The report of the most-earning org agrees with the ledger.
    const [topId, top] = [...expected.entries()].sort((a, b) => b[1].l1 + b[1].l2 - (a[1].l1 + a[1].l2))[0]!;
    const report = await referralsReport(db, topId);
    expect(report.totalMicro).toBe(top.l1 + top.l2);
    expect(report.monthly.reduce((s, m) => s + m.level1Micro, 0)).toBe(top.l1);
    expect((await server.verify()).ok).toBe(true);
  }, 240_000);
});
