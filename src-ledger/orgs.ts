import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import type {
  AdjustmentInput,
  ChangePlanInput,
  CreateOrgInput,
  Device,
  DeviceToken,
  HostedOrg,
  Posted,
  TopUpInput,
} from '../src-engine/contracts/hosted-ledger.ts';
import type { LedgerKind } from '../src-engine/contracts/ledger.ts';
import { AppError } from '../src-engine/errors.ts';
import { newDeviceToken } from './auth.ts';
import { chargedInCycle, planChargeDrafts, referralChains } from './billing.ts';
import {
  creditBalance,
  cycleOf,
  lockOrgs,
  planById,
  postOne,
  postTransfers,
  queryRows,
  toHostedTransfer,
  type OrgRow,
} from './books.ts';
import type { LedgerDb } from './db/connection.ts';
import { devices, orgs } from './db/schema.ts';
import { randomSecret } from './ids.ts';

/* The operator's side: orgs, their device tokens, top-ups and adjustments, plans and referral links. */

/** Serialises referral linking across processes, so two links made at once cannot close a cycle. */
const REFERRAL_LOCK = 743_001;

const notFound = (id: string) => new AppError('NOT_FOUND', `Organization ${id} not found`);

async function lockOne(tx: LedgerDb, orgId: string): Promise<Map<string, OrgRow>> {
  const locked = await lockOrgs(tx, [orgId]);
  if (!locked.has(orgId)) throw notFound(orgId);
  return locked;
}

async function toHostedOrg(db: LedgerDb, row: OrgRow): Promise<HostedOrg> {
  return {
    id: row.id,
    name: row.name,
    planId: row.planId,
    pendingPlanId: row.pendingPlanId,
    referralCode: row.referralCode,
    referredBy: row.referredBy,
    cycleStart: row.cycleStart,
    createdAt: row.createdAt,
    balanceMicro: await creditBalance(db, row.id),
  };
}

export async function getOrg(db: LedgerDb, orgId: string): Promise<HostedOrg> {
  const [row] = await db.select().from(orgs).where(eq(orgs.id, orgId));
  if (!row) throw notFound(orgId);
  return toHostedOrg(db, row);
}

async function orgByReferralCode(db: LedgerDb, code: string): Promise<OrgRow> {
  const [row] = await db.select().from(orgs).where(eq(orgs.referralCode, code));
  if (!row) throw new AppError('NOT_FOUND', `No organization has the referral code ${code}`);
  return row;
}

/** A new org on a plan, its cycles anchored now; with a referral code, linked to its referrer. */
export async function createOrg(db: LedgerDb, input: CreateOrgInput, now: number): Promise<HostedOrg> {
  await planById(db, input.planId);
  const referrer = input.referralCode ? await orgByReferralCode(db, input.referralCode) : null;
  const [row] = await db
    .insert(orgs)
    .values({
      id: randomUUID(),
      name: input.name,
      planId: input.planId,
      referralCode: randomSecret(9),
      // A brand-new org has no referees, so linking it can close no cycle.
      referredBy: referrer?.id ?? null,
      cycleStart: now,
      createdAt: now,
    })
    .returning();
  return toHostedOrg(db, row!);
}

/** Links an org without a referrer to the org owning `code`: never itself, never a cycle. */
export async function setReferrer(db: LedgerDb, orgId: string, code: string): Promise<HostedOrg> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(${REFERRAL_LOCK})`);
    const org = (await lockOne(tx, orgId)).get(orgId)!;
    const referrer = await orgByReferralCode(tx, code);
    if (org.referredBy !== null) {
      if (org.referredBy === referrer.id) return toHostedOrg(tx, org);
      throw new AppError('CONFLICT', 'This organization already has a referrer');
    }
    if (referrer.id === orgId) throw new AppError('VALIDATION_ERROR', 'An organization cannot refer itself');
    const loop = await queryRows<{ id: string }>(
      tx,
      sql`WITH RECURSIVE up(id, referred_by) AS (
              SELECT id, referred_by FROM orgs WHERE id = ${referrer.id}
              UNION SELECT o.id, o.referred_by FROM orgs o JOIN up ON o.id = up.referred_by)
          SELECT id FROM up WHERE id = ${orgId}`,
    );
    if (loop.length > 0) {
      throw new AppError('VALIDATION_ERROR', 'That referral would make a cycle in the referral tree');
    }
    const [row] = await tx
      .update(orgs)
      .set({ referredBy: referrer.id })
      .where(eq(orgs.id, orgId))
      .returning();
    return toHostedOrg(tx, row!);
  });
}

export async function issueDevice(
  db: LedgerDb,
  orgId: string,
  name: string,
  now: number,
): Promise<DeviceToken> {
  const deviceId = randomSecret(12);
  const { token, tokenHash } = newDeviceToken(deviceId);
  await getOrg(db, orgId);
  await db.insert(devices).values({ id: deviceId, orgId, name, tokenHash, createdAt: now });
  return { deviceId, orgId, name, token };
}

const toDevice = (r: typeof devices.$inferSelect): Device => ({
  deviceId: r.id,
  orgId: r.orgId,
  name: r.name,
  lastPushedSeq: r.lastPushedSeq,
  revokedAt: r.revokedAt,
  lastSeenAt: r.lastSeenAt,
  createdAt: r.createdAt,
});

export async function listDevices(db: LedgerDb, orgId: string): Promise<Device[]> {
  await getOrg(db, orgId);
  return (await db.select().from(devices).where(eq(devices.orgId, orgId)).orderBy(devices.createdAt)).map(
    toDevice,
  );
}

/** Revokes a device token at once (a second revoke keeps the first time). */
export async function revokeDevice(db: LedgerDb, deviceId: string, now: number): Promise<Device> {
  const [row] = await db
    .update(devices)
    .set({ revokedAt: sql`coalesce(${devices.revokedAt}, ${now})` })
    .where(eq(devices.id, deviceId))
    .returning();
  if (!row) throw new AppError('NOT_FOUND', `Device ${deviceId} not found`);
  return toDevice(row);
}

/** A TOPUP or ADJUSTMENT the operator posts; idempotent by its client-made id. */
export async function postCredit(
  db: LedgerDb,
  orgId: string,
  kind: Extract<LedgerKind, 'TOPUP' | 'ADJUSTMENT'>,
  input: TopUpInput | AdjustmentInput,
  now: number,
): Promise<Posted> {
  return db.transaction(async (tx) => {
    const locked = await lockOne(tx, orgId);
    const { row, created } = await postOne(
      tx,
      locked,
      {
        id: input.id,
        orgId,
        kind,
        amountMicro: input.amountMicro,
        reference: input.reference ?? null,
        source: 'server',
      },
      now,
    );
    return { transfer: toHostedTransfer(row), created, balanceMicro: await creditBalance(tx, orgId) };
  });
}

/**
 * Plan changes take effect at the start of the next cycle, except an upgrade, which by default takes
 * effect now: the difference between the new plan's price and what the org already paid for this
 * cycle is charged at once (no pro-rata), with its referral commissions, and the cycle counts as
 * billed. A downgrade (or a same-price change) asked for `now` is refused.
 */
export async function changePlan(
  db: LedgerDb,
  orgId: string,
  input: ChangePlanInput,
  now: number,
): Promise<HostedOrg> {
  const target = await planById(db, input.planId);
  return db.transaction(async (tx) => {
    const chains = await referralChains(tx, [orgId]);
    const locked = await lockOrgs(tx, [orgId, ...(chains.get(orgId) ?? [])]);
    const org = locked.get(orgId);
    if (!org) throw notFound(orgId);
    const current = await planById(tx, org.planId);
    const upgrade = target.priceMicro > current.priceMicro;
    const when = input.when ?? (upgrade ? 'now' : 'next_cycle');
    if (when === 'next_cycle') {
      const pending = target.id === org.planId ? null : target.id;
      const [row] = await tx
        .update(orgs)
        .set({ pendingPlanId: pending })
        .where(eq(orgs.id, orgId))
        .returning();
      return toHostedOrg(tx, row!);
    }
    if (!upgrade) {
      throw new AppError(
        'VALIDATION_ERROR',
        'Only an upgrade takes effect now; other changes take effect at the next cycle',
      );
    }
    const cycle = cycleOf(org, now).cycle;
    const paid = (await chargedInCycle(tx, [{ orgId, cycle }])).get(`${orgId}:${cycle}`) ?? 0;
    const due = Math.max(0, target.priceMicro - paid);
    if (due > 0) {
      const balance = await creditBalance(tx, orgId);
      if (balance + target.overdraftMicro < due) {
        throw new AppError(
          'INSUFFICIENT_CREDITS',
          `The upgrade costs ${due} micro-credits now; the balance is ${balance}`,
          {
            requiredMicro: due,
            balanceMicro: balance,
          },
        );
      }
      const outcomes = await postTransfers(
        tx,
        locked,
        planChargeDrafts(orgId, cycle, target.id, due, chains.get(orgId) ?? []),
        now,
      );
      if (outcomes.some((o) => o.status === 'conflict'))
        throw new AppError('CONFLICT', 'This upgrade was already charged differently');
    }
    const [row] = await tx
      .update(orgs)
      .set({ planId: target.id, pendingPlanId: null, billedCycle: cycle })
      .where(eq(orgs.id, orgId))
      .returning();
    return toHostedOrg(tx, row!);
  });
}
