import { and, eq, inArray, sql, type SQL } from 'drizzle-orm';
import { orgDelta, type LedgerKind, type Plan, type VerifyReport } from '../src-engine/contracts/ledger.ts';
import type { HostedTransfer } from '../src-engine/contracts/hosted-ledger.ts';
import { cycleAt } from '../src-engine/ledger/cycle.ts';
import { AppError } from '../src-engine/errors.ts';
import type { LedgerDb } from './db/connection.ts';
import { balances, entries, orgs, plans, transfers } from './db/schema.ts';

/*
 * The double-entry core. Every transfer writes two entries that sum to zero, both in the org's own
 * books: its `credits` account (what it can spend) and the system account its kind names. Keeping
 * the system side per org means every row belongs to one org and two orgs never contend on a shared
 * row. Transfers are append-only and idempotent by id: the same id with the same body is a repeat
 * (the stored transfer is returned), with another body it is a conflict. Writers lock the orgs they
 * touch (`lockOrgs`, in id order so transactions never deadlock) before posting.
 */

export const CREDITS = 'credits';
const SYSTEM_ACCOUNT = {
  TOPUP: 'topups',
  USAGE_MESSAGE: 'usage',
  USAGE_AGENT: 'usage',
  COMMISSION: 'commissions',
  PLAN_CHARGE: 'plans',
  ADJUSTMENT: 'adjustments',
} as const satisfies Record<LedgerKind, string>;

export type OrgRow = typeof orgs.$inferSelect;
export type TransferRow = typeof transfers.$inferSelect;

export interface TransferDraft {
  id: string;
  orgId: string;
  kind: LedgerKind;
  amountMicro: number;
  reference: string | null;
  source: 'device' | 'server';
  deviceId?: string;
  deviceSeq?: number;
  clientCreatedAt?: number;
  sourceOrgId?: string;
  level?: number;
}

export type PostOutcome =
  { status: 'created' | 'repeat'; row: TransferRow } | { status: 'conflict'; row?: undefined };

/** Rows of a raw query on either driver. */
export async function queryRows<T>(db: LedgerDb, query: SQL): Promise<T[]> {
  const result = (await db.execute(query)) as unknown as { rows: T[] };
  return result.rows;
}

/** Takes the row locks of these orgs for the rest of the transaction, in id order (no deadlocks). */
export async function lockOrgs(tx: LedgerDb, ids: Iterable<string>): Promise<Map<string, OrgRow>> {
  const sorted = [...new Set(ids)].sort();
  if (sorted.length === 0) return new Map();
  const rows = await tx.select().from(orgs).where(inArray(orgs.id, sorted)).orderBy(orgs.id).for('update');
  return new Map(rows.map((r) => [r.id, r]));
}

export const cycleOf = (org: Pick<OrgRow, 'cycleStart'>, at: number) => cycleAt(org.cycleStart, at);

const sameBody = (row: TransferRow, d: TransferDraft) =>
  row.orgId === d.orgId &&
  row.kind === d.kind &&
  row.amountMicro === d.amountMicro &&
  row.reference === d.reference &&
  row.source === d.source &&
  (d.source === 'server' || row.clientCreatedAt === (d.clientCreatedAt ?? null));

/** The stored transfers among `ids`, by id. */
export async function knownTransfers(
  tx: LedgerDb,
  ids: readonly string[],
): Promise<Map<string, TransferRow>> {
  const unique = [...new Set(ids)];
  const known = new Map<string, TransferRow>();
  for (let i = 0; i < unique.length; i += 5000) {
    const rows = await tx
      .select()
      .from(transfers)
      .where(inArray(transfers.id, unique.slice(i, i + 5000)));
    for (const r of rows) known.set(r.id, r);
  }
  return known;
}

/**
 * Posts transfers in the caller's transaction; every org named must be locked (`locked`). Returns one
 * outcome per draft, in order. Batches of any size cost a handful of statements. `known`: what
 * knownTransfers() answered for the drafts' ids, when the caller has already asked (it is added to).
 */
export async function postTransfers(
  tx: LedgerDb,
  locked: ReadonlyMap<string, OrgRow>,
  drafts: readonly TransferDraft[],
  now: number,
  known?: Map<string, TransferRow>,
): Promise<PostOutcome[]> {
  if (drafts.length === 0) return [];
  known ??= await knownTransfers(
    tx,
    drafts.map((d) => d.id),
  );

  const outcomes: PostOutcome[] = [];
  const fresh: TransferRow[] = [];
  const serverCount = new Map<string, number>();
  for (const d of drafts) {
    const org = locked.get(d.orgId);
    if (!org) throw new Error(`postTransfers: org ${d.orgId} is not locked`);
    const existing = known.get(d.id);
    if (existing) {
      outcomes.push(sameBody(existing, d) ? { status: 'repeat', row: existing } : { status: 'conflict' });
      continue;
    }
    const row: TransferRow = {
      id: d.id,
      orgId: d.orgId,
      kind: d.kind,
      amountMicro: d.amountMicro,
      reference: d.reference,
      source: d.source,
      deviceId: d.deviceId ?? null,
      deviceSeq: d.deviceSeq ?? null,
      clientCreatedAt: d.clientCreatedAt ?? null,
      orgSeq: null,
      cycle: cycleOf(org, now).cycle,
      sourceOrgId: d.sourceOrgId ?? null,
      level: d.level ?? null,
      createdAt: now,
    };
    if (d.source === 'server') serverCount.set(d.orgId, (serverCount.get(d.orgId) ?? 0) + 1);
    known.set(d.id, row);
    fresh.push(row);
    outcomes.push({ status: 'created', row });
  }
  if (fresh.length === 0) return outcomes;

  // Server-written transfers get the next positions of their org's pull stream.
  const nextSeq = new Map<string, number>();
  if (serverCount.size > 0) {
    const bumped = await queryRows<{ id: string; server_seq: string }>(
      tx,
      sql`UPDATE orgs SET server_seq = orgs.server_seq + v.n
            FROM (VALUES ${sql.join(
              [...serverCount].map(([orgId, n]) => sql`(${orgId}, ${n}::bigint)`),
              sql`, `,
            )}) AS v(id, n)
           WHERE orgs.id = v.id
       RETURNING orgs.id, orgs.server_seq::text`,
    );
    for (const r of bumped) nextSeq.set(r.id, Number(r.server_seq) - serverCount.get(r.id)! + 1);
  }
  const deltas = new Map<string, { orgId: string; account: string; amount: number }>();
  const addDelta = (orgId: string, account: string, amount: number) => {
    const key = `${orgId}\u0000${account}`;
    const cur = deltas.get(key);
    if (cur) cur.amount += amount;
    else deltas.set(key, { orgId, account, amount });
  };
  const legs: (typeof entries.$inferInsert)[] = [];
  for (const row of fresh) {
    if (row.source === 'server') {
      const seq = nextSeq.get(row.orgId)!;
      row.orgSeq = seq;
      nextSeq.set(row.orgId, seq + 1);
    }
    const delta = orgDelta(row.kind as LedgerKind, row.amountMicro);
    const system = SYSTEM_ACCOUNT[row.kind as LedgerKind];
    legs.push(
      { transferId: row.id, orgId: row.orgId, account: CREDITS, amountMicro: delta, createdAt: now },
      { transferId: row.id, orgId: row.orgId, account: system, amountMicro: -delta, createdAt: now },
    );
    addDelta(row.orgId, CREDITS, delta);
    addDelta(row.orgId, system, -delta);
  }
  // Under PostgreSQL's 65,535 bind parameters per statement.
  for (let i = 0; i < fresh.length; i += 2000) await tx.insert(transfers).values(fresh.slice(i, i + 2000));
  for (let i = 0; i < legs.length; i += 4000) await tx.insert(entries).values(legs.slice(i, i + 4000));
  await tx
    .insert(balances)
    .values([...deltas.values()].map((d) => ({ orgId: d.orgId, account: d.account, balanceMicro: d.amount })))
    .onConflictDoUpdate({
      target: [balances.orgId, balances.account],
      set: { balanceMicro: sql`${balances.balanceMicro} + excluded.balance_micro` },
    });
  return outcomes;
}

/** Posts one transfer; a repeat returns the stored one, another body under the same id is a CONFLICT. */
export async function postOne(
  tx: LedgerDb,
  locked: ReadonlyMap<string, OrgRow>,
  draft: TransferDraft,
  now: number,
): Promise<{ row: TransferRow; created: boolean }> {
  const [outcome] = await postTransfers(tx, locked, [draft], now);
  if (outcome!.status === 'conflict') {
    throw new AppError('CONFLICT', `Transfer ${draft.id} was already posted with a different body`);
  }
  return { row: outcome!.row, created: outcome!.status === 'created' };
}

/** Posted credit balances of these orgs (0 for an org with no entries yet). */
export async function creditBalances(db: LedgerDb, orgIds: readonly string[]): Promise<Map<string, number>> {
  const out = new Map(orgIds.map((id) => [id, 0]));
  if (orgIds.length === 0) return out;
  const rows = await db
    .select({ orgId: balances.orgId, balance: balances.balanceMicro })
    .from(balances)
    .where(and(inArray(balances.orgId, [...orgIds]), eq(balances.account, CREDITS)));
  for (const r of rows) out.set(r.orgId, r.balance);
  return out;
}

export async function creditBalance(db: LedgerDb, orgId: string): Promise<number> {
  return (await creditBalances(db, [orgId])).get(orgId)!;
}

export function toPlan(row: typeof plans.$inferSelect): Plan {
  return { ...row };
}

export async function planById(db: LedgerDb, id: string): Promise<Plan> {
  const [row] = await db.select().from(plans).where(eq(plans.id, id));
  if (!row) throw new AppError('NOT_FOUND', `Plan ${id} not found`);
  return toPlan(row);
}

export function toHostedTransfer(row: TransferRow): HostedTransfer {
  return {
    id: row.id,
    orgId: row.orgId,
    kind: row.kind as LedgerKind,
    amountMicro: orgDelta(row.kind as LedgerKind, row.amountMicro),
    reference: row.reference,
    source: row.source,
    cycle: row.cycle,
    createdAt: row.createdAt,
  };
}

/**
 * Proves the books from the entries, in one snapshot: every cached balance equals the sum of its
 * account's entries, and every transfer has exactly two entries summing to zero, its org leg being
 * what its kind and amount say. `orgId` limits the check to one org.
 */
export async function verifyBooks(db: LedgerDb, orgId?: string): Promise<VerifyReport> {
  const scope = (col: string) => (orgId ? sql`WHERE ${sql.identifier(col)} = ${orgId}` : sql``);
  return db.transaction(async (tx) => {
    const mismatches = await queryRows<{ org_id: string; account: string; cached: string; derived: string }>(
      tx,
      sql`WITH derived AS (SELECT org_id, account, sum(amount_micro) AS n FROM ledger_entries ${scope('org_id')}
                            GROUP BY org_id, account),
               cached AS (SELECT org_id, account, balance_micro FROM account_balances ${scope('org_id')})
          SELECT coalesce(c.org_id, d.org_id) AS org_id, coalesce(c.account, d.account) AS account,
                 coalesce(c.balance_micro, 0)::text AS cached, coalesce(d.n, 0)::text AS derived
            FROM cached c FULL JOIN derived d ON d.org_id = c.org_id AND d.account = c.account
           WHERE coalesce(c.balance_micro, 0) <> coalesce(d.n, 0)
           ORDER BY 1, 2`,
    );
    const unbalanced = await queryRows<{ id: string; sum: string; n: string }>(
      tx,
      sql`SELECT t.id, coalesce(sum(e.amount_micro), 0)::text AS sum, count(e.id)::text AS n
            FROM ledger_transfers t LEFT JOIN ledger_entries e ON e.transfer_id = t.id
           ${orgId ? sql`WHERE t.org_id = ${orgId}` : sql``}
           GROUP BY t.id, t.kind, t.amount_micro
          HAVING coalesce(sum(e.amount_micro), 0) <> 0 OR count(e.id) <> 2
              OR coalesce(sum(e.amount_micro) FILTER (WHERE e.account = ${CREDITS}), 0)
                 <> CASE WHEN t.kind IN ('TOPUP', 'COMMISSION', 'ADJUSTMENT') THEN t.amount_micro
                         ELSE -t.amount_micro END
           ORDER BY 1`,
    );
    const balanceMismatches = mismatches.map((m) => ({
      account: `org:${m.org_id}:${m.account}`,
      cachedMicro: Number(m.cached),
      derivedMicro: Number(m.derived),
    }));
    const unbalancedTransfers = unbalanced.map((u) => ({
      transferId: u.id,
      sumMicro: Number(u.sum),
      entries: Number(u.n),
    }));
    return {
      ok: balanceMismatches.length + unbalancedTransfers.length === 0,
      balanceMismatches,
      unbalancedTransfers,
      badReservations: [],
    };
  });
}
