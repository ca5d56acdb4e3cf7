import { and, asc, eq, inArray, lt, sql } from 'drizzle-orm';
import type { ReferralsReport, Statement } from '../src-engine/contracts/hosted-ledger.ts';
import type { Cycle } from '../src-engine/contracts/ledger.ts';
import { cycleAt } from '../src-engine/ledger/cycle.ts';
import { AppError } from '../src-engine/errors.ts';
import { CREDITS, cycleOf, planById, toHostedTransfer, type OrgRow } from './books.ts';
import type { LedgerDb } from './db/connection.ts';
import { entries, orgs, transfers, usageCounters } from './db/schema.ts';

async function orgRow(db: LedgerDb, orgId: string): Promise<OrgRow> {
  const [row] = await db.select().from(orgs).where(eq(orgs.id, orgId));
  if (!row) throw new AppError('NOT_FOUND', `Organization ${orgId} not found`);
  return row;
}

/** The org's referees two levels down, and the commissions it was credited per cycle (its own). */
export async function referralsReport(db: LedgerDb, orgId: string): Promise<ReferralsReport> {
  const org = await orgRow(db, orgId);
  const pick = { orgId: orgs.id, name: orgs.name, planId: orgs.planId };
  const level1 = await db
    .select(pick)
    .from(orgs)
    .where(eq(orgs.referredBy, orgId))
    .orderBy(orgs.createdAt, orgs.id);
  const level2 =
    level1.length === 0
      ? []
      : await db
          .select({ ...pick, via: orgs.referredBy })
          .from(orgs)
          .where(
            inArray(
              orgs.referredBy,
              level1.map((o) => o.orgId),
            ),
          )
          .orderBy(orgs.createdAt, orgs.id);
  const sums = await db
    .select({
      cycle: transfers.cycle,
      level: transfers.level,
      sum: sql<string>`sum(${transfers.amountMicro})::text`,
    })
    .from(transfers)
    .where(and(eq(transfers.orgId, orgId), eq(transfers.kind, 'COMMISSION')))
    .groupBy(transfers.cycle, transfers.level);
  const byCycle = new Map<string, { level1Micro: number; level2Micro: number }>();
  for (const s of sums) {
    const m = byCycle.get(s.cycle) ?? { level1Micro: 0, level2Micro: 0 };
    if (s.level === 1) m.level1Micro += Number(s.sum);
    else m.level2Micro += Number(s.sum);
    byCycle.set(s.cycle, m);
  }
  const monthly = [...byCycle.entries()]
    .sort(([a], [b]) => (a < b ? 1 : -1))
    .map(([cycle, m]) => ({ cycle, ...m, totalMicro: m.level1Micro + m.level2Micro }));
  return {
    orgId,
    referralCode: org.referralCode,
    level1,
    level2: level2.map((o) => ({ ...o, via: o.via! })),
    monthly,
    totalMicro: monthly.reduce((s, m) => s + m.totalMicro, 0),
  };
}

const daysInMonth = (year: number, month0: number) => new Date(Date.UTC(year, month0 + 1, 0)).getUTCDate();

/** The org's cycle named `name` ('YYYY-MM': the cycle that starts in that month). */
export function namedCycle(cycleStart: number, name: string): Cycle {
  const [y, m] = name.split('-').map(Number) as [number, number];
  const anchor = new Date(cycleStart);
  const day = Math.min(anchor.getUTCDate(), daysInMonth(y, m - 1));
  const start = Date.UTC(
    y,
    m - 1,
    day,
    anchor.getUTCHours(),
    anchor.getUTCMinutes(),
    anchor.getUTCSeconds(),
    anchor.getUTCMilliseconds(),
  );
  const cycle = cycleAt(cycleStart, start);
  if (cycle.cycle !== name) throw new AppError('VALIDATION_ERROR', `Invalid cycle ${name}`);
  return cycle;
}

/** One cycle of the org's books: opening and closing credit, totals per kind, usage, the transfers. */
export async function statement(
  db: LedgerDb,
  orgId: string,
  cycleName: string | undefined,
  now: number,
): Promise<Statement> {
  return db.transaction(
    async (tx) => {
      const org = await orgRow(tx, orgId);
      const cycle = cycleName ? namedCycle(org.cycleStart, cycleName) : cycleOf(org, now);
      const [opening] = await tx
        .select({ sum: sql<string>`coalesce(sum(${entries.amountMicro}), 0)::text` })
        .from(entries)
        .innerJoin(transfers, eq(transfers.id, entries.transferId))
        .where(and(eq(entries.orgId, orgId), eq(entries.account, CREDITS), lt(transfers.cycle, cycle.cycle)));
      const rows = await tx
        .select()
        .from(transfers)
        .where(and(eq(transfers.orgId, orgId), eq(transfers.cycle, cycle.cycle)))
        .orderBy(asc(transfers.createdAt), asc(transfers.id));
      const list = rows.map(toHostedTransfer);
      const totals: Record<string, number> = {};
      for (const t of list) totals[t.kind] = (totals[t.kind] ?? 0) + t.amountMicro;
      const openingMicro = Number(opening!.sum);
      const [usage] = await tx
        .select({ messages: usageCounters.messages, aiRuns: usageCounters.aiRuns })
        .from(usageCounters)
        .where(and(eq(usageCounters.orgId, orgId), eq(usageCounters.cycle, cycle.cycle)));
      return {
        orgId,
        cycle,
        plan: await planById(tx, org.planId),
        openingMicro,
        closingMicro: openingMicro + list.reduce((s, t) => s + t.amountMicro, 0),
        totals,
        usage: usage ?? { messages: 0, aiRuns: 0 },
        transfers: list,
      };
    },
    { isolationLevel: 'repeatable read', accessMode: 'read only' },
  );
}
