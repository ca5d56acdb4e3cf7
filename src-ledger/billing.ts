import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Plan } from '../src-engine/contracts/ledger.ts';
import type { BillingRun } from '../src-engine/contracts/hosted-ledger.ts';
import type { Logger } from '../src-engine/logger.ts';
import {
  creditBalances,
  cycleOf,
  lockOrgs,
  postTransfers,
  queryRows,
  toPlan,
  type OrgRow,
  type TransferDraft,
} from './books.ts';
import type { LedgerDb } from './db/connection.ts';
import { orgs, plans, transfers, usageCounters } from './db/schema.ts';
import { deterministicId } from './ids.ts';

/*
 * The monthly billing job. For every org whose current cycle is not billed yet, in one transaction
 * per chunk of orgs: apply a plan change scheduled for this cycle, charge the plan from credit
 * (PLAN_CHARGE), pay the referrers their commissions on what was charged (COMMISSION: level 1 20 %,
 * level 2 5 %), start the cycle's usage counters at zero and mark the cycle billed. Entry ids are
 * UUIDv5 of org + cycle + plan (and charge + level), so a second run, a concurrent run or a run after
 * a crash can never charge or pay twice: the ledger keeps one transfer per id.
 * An org whose credit cannot pay its plan is moved to the free plan for the cycle (nothing charged,
 * so no commission); it can upgrade again at once after a top-up.
 */

export const FREE_PLAN_ID = 'free';
/** Level -> percent of what the referred org paid. */
export const COMMISSION_PERCENT: readonly { level: 1 | 2; percent: bigint }[] = [
  { level: 1, percent: 20n },
  { level: 2, percent: 5n },
];
const CHUNK = 250;

/** Floor of `percent` % of an amount, exact in integers. */
export const commissionOf = (amountMicro: number, percent: bigint): number =>
  Number((BigInt(amountMicro) * percent) / 100n);

/** The PLAN_CHARGE of `due` for one org's cycle and the commissions it pays up its referral chain. */
export function planChargeDrafts(
  orgId: string,
  cycle: string,
  planId: string,
  dueMicro: number,
  chain: readonly string[],
): TransferDraft[] {
  const chargeId = deterministicId(`plan-charge:${orgId}:${cycle}:${planId}`);
  const drafts: TransferDraft[] = [
    {
      id: chargeId,
      orgId,
      kind: 'PLAN_CHARGE',
      amountMicro: dueMicro,
      reference: `plan:${planId}:${cycle}`,
      source: 'server',
    },
  ];
  COMMISSION_PERCENT.forEach(({ level, percent }, i) => {
    const referrer = chain[i];
    const amount = commissionOf(dueMicro, percent);
    if (!referrer || amount === 0) return;
    drafts.push({
      id: deterministicId(`commission:${chargeId}:${level}`),
      orgId: referrer,
      kind: 'COMMISSION',
      amountMicro: amount,
      reference: `commission:L${level}:${orgId}:${cycle}`,
      source: 'server',
      sourceOrgId: orgId,
      level,
    });
  });
  return drafts;
}

/** Level 1 and level 2 referrers of each org (read without locks; callers lock them after). */
export async function referralChains(
  db: LedgerDb,
  orgIds: readonly string[],
): Promise<Map<string, string[]>> {
  if (orgIds.length === 0) return new Map();
  const rows = await queryRows<{ id: string; l1: string | null; l2: string | null }>(
    db,
    sql`SELECT o.id, r1.id AS l1, r1.referred_by AS l2
          FROM orgs o LEFT JOIN orgs r1 ON r1.id = o.referred_by
         WHERE o.id IN (${sql.join(
           orgIds.map((id) => sql`${id}`),
           sql`, `,
         )})`,
  );
  return new Map(rows.map((r) => [r.id, [r.l1, r.l2].filter((x): x is string => x !== null)]));
}

/** What each org was already charged for a plan in the given cycle (an upgrade mid-cycle). */
export async function chargedInCycle(
  db: LedgerDb,
  wanted: readonly { orgId: string; cycle: string }[],
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (wanted.length === 0) return out;
  const rows = await db
    .select({
      orgId: transfers.orgId,
      cycle: transfers.cycle,
      sum: sql<string>`sum(${transfers.amountMicro})::text`,
    })
    .from(transfers)
    .where(
      and(
        inArray(
          transfers.orgId,
          wanted.map((w) => w.orgId),
        ),
        eq(transfers.kind, 'PLAN_CHARGE'),
        inArray(transfers.cycle, [...new Set(wanted.map((w) => w.cycle))]),
      ),
    )
    .groupBy(transfers.orgId, transfers.cycle);
  for (const r of rows) out.set(`${r.orgId}:${r.cycle}`, Number(r.sum));
  return out;
}

const isDue = (o: Pick<OrgRow, 'cycleStart' | 'billedCycle'>, now: number) =>
  o.billedCycle === null || o.billedCycle < cycleOf(o, now).cycle;

async function billChunk(
  db: LedgerDb,
  ids: readonly string[],
  planBook: ReadonlyMap<string, Plan>,
  now: number,
): Promise<Omit<BillingRun, 'durationMs'>> {
  return db.transaction(async (tx) => {
    const chains = await referralChains(tx, ids);
    const locked = await lockOrgs(tx, [...ids, ...[...chains.values()].flat()]);
    const balance = await creditBalances(tx, [...locked.keys()]);
    const due = ids.map((id) => locked.get(id)!).filter((o) => isDue(o, now));
    const charged = await chargedInCycle(
      tx,
      due.map((o) => ({ orgId: o.id, cycle: cycleOf(o, now).cycle })),
    );
    const run = { billed: 0, downgraded: 0, chargedMicro: 0, commissionsMicro: 0 };
    const drafts: TransferDraft[] = [];
    /** `pending`: the plan an org that could not pay it goes back to at the next cycle it can. */
    const settled: { id: string; planId: string; pending: string | null; cycle: string }[] = [];
    for (const org of due) {
      const cycle = cycleOf(org, now).cycle;
      let planId = org.pendingPlanId ?? org.planId;
      let pending: string | null = null;
      const plan = planBook.get(planId)!;
      const dueMicro = plan.priceMicro - (charged.get(`${org.id}:${cycle}`) ?? 0);
      if (dueMicro > 0) {
        if (balance.get(org.id)! + plan.overdraftMicro >= dueMicro) {
          const mine = planChargeDrafts(org.id, cycle, planId, dueMicro, chains.get(org.id) ?? []);
          for (const d of mine) {
            balance.set(
              d.orgId,
              balance.get(d.orgId)! + (d.kind === 'COMMISSION' ? d.amountMicro : -d.amountMicro),
            );
            if (d.kind === 'COMMISSION') run.commissionsMicro += d.amountMicro;
            else run.chargedMicro += d.amountMicro;
          }
          drafts.push(...mine);
        } else {
          // Free for this cycle; the next billing tries the plan again.
          pending = planId;
          planId = FREE_PLAN_ID;
          run.downgraded++;
        }
      }
      settled.push({ id: org.id, planId, pending, cycle });
      run.billed++;
    }
    if (settled.length === 0) return run;
    const outcomes = await postTransfers(tx, locked, drafts, now);
    const conflict = outcomes.findIndex((o) => o.status === 'conflict');
    if (conflict !== -1)
      throw new Error(`billing: transfer ${drafts[conflict]!.id} exists with another body`);
    await tx.execute(
      sql`UPDATE orgs SET plan_id = v.plan_id, pending_plan_id = v.pending, billed_cycle = v.cycle
            FROM (VALUES ${sql.join(
              settled.map((s) => sql`(${s.id}, ${s.planId}, ${s.pending}::text, ${s.cycle})`),
              sql`, `,
            )}) AS v(id, plan_id, pending, cycle)
           WHERE orgs.id = v.id`,
    );
    // The cycle's counters start at zero: the "message counter reset" of the new cycle.
    await tx
      .insert(usageCounters)
      .values(settled.map((s) => ({ orgId: s.id, cycle: s.cycle, messages: 0, aiRuns: 0, updatedAt: now })))
      .onConflictDoNothing();
    return run;
  });
}

/** Bills every org whose current cycle (at `now`) is not billed yet. Safe to run twice or concurrently. */
export async function runBilling(db: LedgerDb, now: number, log?: Logger): Promise<BillingRun> {
  const started = performance.now();
  const planBook = new Map((await db.select().from(plans)).map((p) => [p.id, toPlan(p)]));
  const candidates = (
    await db
      .select({ id: orgs.id, cycleStart: orgs.cycleStart, billedCycle: orgs.billedCycle })
      .from(orgs)
      .orderBy(orgs.id)
  ).filter((o) => isDue(o, now));
  const total = { billed: 0, downgraded: 0, chargedMicro: 0, commissionsMicro: 0 };
  for (let i = 0; i < candidates.length; i += CHUNK) {
    const r = await billChunk(
      db,
      candidates.slice(i, i + CHUNK).map((c) => c.id),
      planBook,
      now,
    );
    total.billed += r.billed;
    total.downgraded += r.downgraded;
    total.chargedMicro += r.chargedMicro;
    total.commissionsMicro += r.commissionsMicro;
  }
  const result = { ...total, durationMs: Math.round(performance.now() - started) };
  if (result.billed > 0) log?.info(result, 'billing run');
  return result;
}
