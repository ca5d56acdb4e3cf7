import { sql } from 'drizzle-orm';
import {
  type AnyPgColumn,
  bigint,
  bigserial,
  boolean,
  check,
  index,
  integer,
  pgTable,
  primaryKey,
  smallint,
  text,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

/*
 * The hosted ledger's tables. Money is integer micro-credits in bigint columns (read as JS numbers:
 * every amount is bounded by MAX_AMOUNT_MICRO, so sums stay exact). Times are ms since epoch.
 * Every row but `plans` carries its org; `ledger_transfers` and `ledger_entries` are append-only
 * (triggers in the `append_only` migration refuse UPDATE and DELETE).
 * `npx drizzle-kit generate --config src-ledger/drizzle.config.ts` writes a migration after a change.
 */

const micro = (name: string) => bigint(name, { mode: 'number' });
const ms = (name: string) => bigint(name, { mode: 'number' });

export const plans = pgTable('plans', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  priceMicro: micro('price_micro').notNull(),
  messagesIncluded: integer('messages_included').notNull(),
  /** null = unlimited */
  aiRunsIncluded: integer('ai_runs_included'),
  maxInstances: integer('max_instances').notNull(),
  whiteLabel: boolean('white_label').notNull(),
  rateLimitPerMin: integer('rate_limit_per_min').notNull(),
  overdraftMicro: micro('overdraft_micro').notNull(),
  updatedAt: ms('updated_at').notNull(),
});

export const orgs = pgTable(
  'orgs',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    planId: text('plan_id')
      .notNull()
      .references(() => plans.id),
    /** Takes effect when the next cycle is billed. */
    pendingPlanId: text('pending_plan_id').references(() => plans.id),
    referralCode: text('referral_code').notNull(),
    referredBy: text('referred_by').references((): AnyPgColumn => orgs.id),
    cycleStart: ms('cycle_start').notNull(),
    /** The last cycle the billing job settled for this org (fast skip; entry ids make it exact). */
    billedCycle: text('billed_cycle'),
    /** Counter of server-written transfers: the pull cursor. Bumped under the org's row lock. */
    serverSeq: bigint('server_seq', { mode: 'number' }).notNull().default(0),
    createdAt: ms('created_at').notNull(),
  },
  (t) => [
    uniqueIndex('orgs_referral_code').on(t.referralCode),
    index('orgs_referred_by').on(t.referredBy),
    check('orgs_no_self_referral', sql`${t.referredBy} IS NULL OR ${t.referredBy} <> ${t.id}`),
  ],
);

export const devices = pgTable(
  'devices',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id')
      .notNull()
      .references(() => orgs.id),
    name: text('name').notNull(),
    /** SHA-256 (hex) of the token's secret; the token itself is never stored. */
    tokenHash: text('token_hash').notNull(),
    lastPushedSeq: bigint('last_pushed_seq', { mode: 'number' }).notNull().default(0),
    revokedAt: ms('revoked_at'),
    lastSeenAt: ms('last_seen_at'),
    createdAt: ms('created_at').notNull(),
  },
  (t) => [index('devices_org').on(t.orgId)],
);

export const transfers = pgTable(
  'ledger_transfers',
  {
    /** Client-made (device entries, top-ups) or deterministic (UUIDv5: charges, commissions, Stripe). */
    id: uuid('id').primaryKey(),
    orgId: text('org_id')
      .notNull()
      .references(() => orgs.id),
    kind: text('kind').notNull(),
    /** As posted: positive, except ADJUSTMENT which is signed. */
    amountMicro: micro('amount_micro').notNull(),
    reference: text('reference'),
    source: text('source', { enum: ['device', 'server'] }).notNull(),
    deviceId: text('device_id'),
    deviceSeq: bigint('device_seq', { mode: 'number' }),
    clientCreatedAt: ms('client_created_at'),
    /** Server-written transfers only: position in the org's pull stream. */
    orgSeq: bigint('org_seq', { mode: 'number' }),
    /** The org's cycle at the server time of the transfer. */
    cycle: text('cycle').notNull(),
    /** COMMISSION: the org whose payment earned it, and the level (1 or 2). */
    sourceOrgId: text('source_org_id'),
    level: smallint('level'),
    /** Authoritative (server) time. */
    createdAt: ms('created_at').notNull(),
  },
  (t) => [
    // Partial: most rows are device usage, which has neither; keeps pushes cheaper.
    uniqueIndex('ledger_transfers_org_seq')
      .on(t.orgId, t.orgSeq)
      .where(sql`${t.orgSeq} IS NOT NULL`),
    index('ledger_transfers_org_cycle').on(t.orgId, t.cycle),
    index('ledger_transfers_source_org')
      .on(t.sourceOrgId)
      .where(sql`${t.sourceOrgId} IS NOT NULL`),
    check(
      'ledger_transfers_kind',
      sql`${t.kind} IN ('TOPUP', 'USAGE_MESSAGE', 'USAGE_AGENT', 'COMMISSION', 'ADJUSTMENT', 'PLAN_CHARGE')`,
    ),
    check('ledger_transfers_sign', sql`${t.kind} = 'ADJUSTMENT' OR ${t.amountMicro} >= 0`),
  ],
);

export const entries = pgTable(
  'ledger_entries',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    transferId: uuid('transfer_id')
      .notNull()
      .references(() => transfers.id),
    orgId: text('org_id').notNull(),
    /** `credits` (what the org can spend) or a per-org system account: topups, usage, plans, ... */
    account: text('account').notNull(),
    /** Signed: + credit to the account, - debit. The two entries of a transfer sum to zero. */
    amountMicro: micro('amount_micro').notNull(),
    createdAt: ms('created_at').notNull(),
  },
  (t) => [
    index('ledger_entries_transfer').on(t.transferId),
    index('ledger_entries_org_account').on(t.orgId, t.account),
  ],
);

/** Cached balances, written in the same transaction as the entries; `verify` proves them. */
export const balances = pgTable(
  'account_balances',
  {
    orgId: text('org_id').notNull(),
    account: text('account').notNull(),
    balanceMicro: micro('balance_micro').notNull(),
  },
  (t) => [primaryKey({ columns: [t.orgId, t.account] })],
);

/**
 * Usage per org and cycle: the sum of its devices' own counts (`device_usage`), never lowered (it also
 * keeps the max of the org-wide counters older desktops report).
 */
export const usageCounters = pgTable(
  'usage_counters',
  {
    orgId: text('org_id').notNull(),
    cycle: text('cycle').notNull(),
    messages: integer('messages').notNull().default(0),
    aiRuns: integer('ai_runs').notNull().default(0),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.orgId, t.cycle] })],
);

/** What each device reported it did itself, per cycle (the max it reported: reports may come late). */
export const deviceUsage = pgTable(
  'device_usage',
  {
    deviceId: text('device_id')
      .notNull()
      .references(() => devices.id),
    orgId: text('org_id').notNull(),
    cycle: text('cycle').notNull(),
    messages: integer('messages').notNull().default(0),
    aiRuns: integer('ai_runs').notNull().default(0),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.deviceId, t.cycle] }), index('device_usage_org').on(t.orgId, t.cycle)],
);

/** Stripe events seen, by event id: a redelivered event is answered without crediting again. */
export const stripeEvents = pgTable('stripe_events', {
  id: text('id').primaryKey(),
  type: text('type').notNull(),
  orgId: text('org_id'),
  transferId: uuid('transfer_id'),
  outcome: text('outcome').notNull(),
  receivedAt: ms('received_at').notNull(),
});
