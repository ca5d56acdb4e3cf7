import { and, eq, gt, inArray, sql, type Column, type SQL } from 'drizzle-orm';
import { orgDelta, type LedgerKind } from '../src-engine/contracts/ledger.ts';
import {
  SYNC_MAX_AGE_MS,
  SYNC_MAX_SKEW_MS,
  USAGE_COUNT_MAX,
  ServerKindSchema,
  type Authority,
  type PullQuery,
  type PullResponse,
  type PushRequest,
  type PushResponse,
} from '../src-engine/contracts/sync.ts';
import { AppError } from '../src-engine/errors.ts';
import type { DeviceIdentity } from './auth.ts';
import {
  creditBalance,
  cycleOf,
  knownTransfers,
  lockOrgs,
  planById,
  postTransfers,
  type TransferDraft,
} from './books.ts';
import type { LedgerDb } from './db/connection.ts';
import { deviceUsage, devices, orgs, transfers, usageCounters } from './db/schema.ts';

/*
 * The sync protocol (SYNC.md): a device pushes its usage entries, pulls what only the server writes,
 * and every answer carries the authority (balance, plan, cycle, usage) it corrects itself from.
 */

/** What the server holds true for the org at `now`. */
export async function authority(db: LedgerDb, orgId: string, now: number): Promise<Authority> {
  const [org] = await db.select().from(orgs).where(eq(orgs.id, orgId));
  if (!org) throw new AppError('NOT_FOUND', `Organization ${orgId} not found`);
  const cycle = cycleOf(org, now);
  const [usage] = await db
    .select({ messages: usageCounters.messages, aiRuns: usageCounters.aiRuns })
    .from(usageCounters)
    .where(and(eq(usageCounters.orgId, orgId), eq(usageCounters.cycle, cycle.cycle)));
  return {
    orgId,
    balanceMicro: await creditBalance(db, orgId),
    plan: await planById(db, org.planId),
    cycle,
    cycleAnchor: org.cycleStart,
    usage: usage ?? { messages: 0, aiRuns: 0 },
    serverTime: now,
  };
}

/**
 * The server's own ids are UUIDv5 of names a device can learn (a plan charge's is its org, cycle and
 * plan): a device entry under one would make that charge "exist with another body" and stop billing.
 */
function ownIdProblem(id: string): string | null {
  return id[14] === '5'
    ? 'UUID version 5 ids are the server’s own; use a random (v4) or time-ordered (v7) id'
    : null;
}

/** Why a client timestamp is refused, or null when it is inside the bounds. */
function timestampProblem(createdAt: number, now: number): string | null {
  if (createdAt < now - SYNC_MAX_AGE_MS) return 'createdAt is older than 35 days';
  if (createdAt > now + SYNC_MAX_SKEW_MS) return 'createdAt is more than 5 minutes ahead of the server';
  return null;
}

export async function push(
  db: LedgerDb,
  device: DeviceIdentity,
  req: PushRequest,
  now: number,
): Promise<PushResponse> {
  return db.transaction(async (tx) => {
    const locked = await lockOrgs(tx, [device.orgId]);
    const rejected: PushResponse['rejected'] = [];
    const drafts: TransferDraft[] = [];
    // An id already stored is judged as a repeat (accepted again, or a conflict) before the timestamp
    // bounds: an answer lost and then 35 days offline must not turn a billed entry into "rejected".
    const known = await knownTransfers(
      tx,
      req.entries.map((e) => e.id),
    );
    for (const e of req.entries) {
      const problem = ownIdProblem(e.id) ?? (known.has(e.id) ? null : timestampProblem(e.createdAt, now));
      if (problem) {
        rejected.push({ id: e.id, seq: e.seq, error: 'VALIDATION_ERROR', message: problem });
        continue;
      }
      drafts.push({
        id: e.id,
        orgId: device.orgId,
        kind: e.kind,
        amountMicro: e.amountMicro,
        reference: e.reference ?? null,
        source: 'device',
        deviceId: device.deviceId,
        deviceSeq: e.seq,
        clientCreatedAt: e.createdAt,
      });
    }
    const outcomes = await postTransfers(tx, locked, drafts, now, known);
    const accepted: string[] = [];
    outcomes.forEach((o, i) => {
      const d = drafts[i]!;
      if (o.status === 'conflict') {
        rejected.push({
          id: d.id,
          seq: d.deviceSeq!,
          error: 'CONFLICT',
          message: 'This id was already posted with a different body',
        });
      } else accepted.push(d.id);
    });
    rejected.sort((a, b) => a.seq - b.seq);

    const maxSeq = req.entries.at(-1)?.seq ?? 0;
    const [dev] = await tx
      .update(devices)
      .set({ lastPushedSeq: sql`greatest(${devices.lastPushedSeq}, ${maxSeq})`, lastSeenAt: now })
      .where(eq(devices.id, device.deviceId))
      .returning({ lastPushedSeq: devices.lastPushedSeq });

    // Counters only go up: a stale or reordered report never lowers one (either table's).
    const keepMax = (counters: { messages: Column; aiRuns: Column }) => ({
      messages: sql`greatest(${counters.messages}, excluded.messages)`,
      aiRuns: sql`greatest(${counters.aiRuns}, excluded.ai_runs)`,
      updatedAt: now,
    });
    const raiseOrgUsage = (cycle: string, messages: SQL | number, aiRuns: SQL | number) =>
      tx
        .insert(usageCounters)
        .values({ orgId: device.orgId, cycle, messages, aiRuns, updatedAt: now })
        .onConflictDoUpdate({
          target: [usageCounters.orgId, usageCounters.cycle],
          set: keepMax(usageCounters),
        });
    // Counts are taken for the org's current cycle only: a label the device computed on another anchor
    // (before its first sync corrected it) names a different period here, and a count kept under it
    // would come back when a later cycle got that name.
    const current = cycleOf(locked.get(device.orgId)!, now).cycle;
    if (req.deviceUsage?.cycle === current) {
      const { cycle, messages, aiRuns } = req.deviceUsage;
      await tx
        .insert(deviceUsage)
        .values({ deviceId: device.deviceId, orgId: device.orgId, cycle, messages, aiRuns, updatedAt: now })
        .onConflictDoUpdate({ target: [deviceUsage.deviceId, deviceUsage.cycle], set: keepMax(deviceUsage) });
      const of = and(eq(deviceUsage.orgId, device.orgId), eq(deviceUsage.cycle, cycle));
      await raiseOrgUsage(
        cycle,
        // Clamped to the 32-bit counters: each device's count is bounded, their sum need not be.
        sql`(SELECT least(coalesce(sum(${deviceUsage.messages}), 0), ${USAGE_COUNT_MAX}) FROM ${deviceUsage} WHERE ${of})`,
        sql`(SELECT least(coalesce(sum(${deviceUsage.aiRuns}), 0), ${USAGE_COUNT_MAX}) FROM ${deviceUsage} WHERE ${of})`,
      );
    }
    if (req.usage?.cycle === current) await raiseOrgUsage(current, req.usage.messages, req.usage.aiRuns);
    return {
      ...(await authority(tx, device.orgId, now)),
      accepted,
      rejected,
      lastPushedSeq: dev!.lastPushedSeq,
    };
  });
}

/** The cursor is the org's server sequence, as a decimal string ('0' = the beginning). */
function parseCursor(cursor: string | undefined): number {
  if (cursor === undefined || cursor === '') return 0;
  if (!/^\d{1,15}$/.test(cursor)) throw new AppError('VALIDATION_ERROR', 'Invalid cursor');
  return Number(cursor);
}

export async function pull(
  db: LedgerDb,
  device: DeviceIdentity,
  query: PullQuery,
  now: number,
): Promise<PullResponse> {
  const after = parseCursor(query.cursor);
  await db.update(devices).set({ lastSeenAt: now }).where(eq(devices.id, device.deviceId));
  // One snapshot: the authority's balance includes exactly the entries up to this page's end or later.
  return db.transaction(
    async (tx) => {
      const rows = await tx
        .select()
        .from(transfers)
        // Only what the server writes: a device's own usage never comes back to it.
        .where(
          and(
            eq(transfers.orgId, device.orgId),
            gt(transfers.orgSeq, after),
            inArray(transfers.kind, ServerKindSchema.options),
          ),
        )
        .orderBy(transfers.orgSeq)
        .limit(query.limit + 1);
      const page = rows.slice(0, query.limit);
      return {
        ...(await authority(tx, device.orgId, now)),
        entries: page.map((r) => ({
          id: r.id,
          kind: ServerKindSchema.parse(r.kind),
          amountMicro: orgDelta(r.kind as LedgerKind, r.amountMicro),
          reference: r.reference,
          createdAt: r.createdAt,
        })),
        nextCursor: String(page.at(-1)?.orgSeq ?? after),
        hasMore: rows.length > query.limit,
      };
    },
    { isolationLevel: 'repeatable read', accessMode: 'read only' },
  );
}
