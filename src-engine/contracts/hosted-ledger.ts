import { z } from 'zod';
import {
  BalanceMicroSchema,
  CycleSchema,
  LedgerKindSchema,
  MicroSchema,
  PlanSchema,
  PositiveMicroSchema,
  ReferenceSchema,
} from './ledger.ts';

/*
 * The hosted ledger API (`src-ledger`) beyond the sync protocol (`sync.ts`): the operator's admin
 * routes (`Authorization: Bearer <LEDGER_ADMIN_TOKEN>`), the org reports (a device token of that org,
 * or the admin token) and the plan list. Money is integer micro-credits (1 credit = 1,000,000 = US$1).
 */

export const PlanIdSchema = z.string().min(1).max(50);
export const ReferralCodeSchema = z.string().regex(/^[A-Za-z0-9_-]{4,40}$/);
export const CycleNameSchema = z.string().regex(/^\d{4}-\d{2}$/);

/** Plan changes: `now` (only an upgrade may take effect now) or at the start of the next cycle. */
export const PlanChangeWhenSchema = z.enum(['now', 'next_cycle']);

export const HostedOrgSchema = z.object({
  id: z.string(),
  name: z.string(),
  planId: z.string(),
  /** A plan that takes effect at the next cycle, if one is scheduled. */
  pendingPlanId: z.string().nullable(),
  /** Give this code to orgs this org refers. */
  referralCode: z.string(),
  /** The org that referred this one (level 1 upwards), if any. */
  referredBy: z.string().nullable(),
  /** Anchor of the monthly cycles (ms). */
  cycleStart: z.number().int(),
  createdAt: z.number().int(),
  balanceMicro: BalanceMicroSchema,
});
export type HostedOrg = z.infer<typeof HostedOrgSchema>;

/** `POST /v1/admin/orgs`. */
export const CreateOrgInputSchema = z
  .object({
    name: z.string().min(1).max(200),
    planId: PlanIdSchema.default('free'),
    /** The referral code of the org that referred this one. */
    referralCode: ReferralCodeSchema.optional(),
  })
  .strict();
export type CreateOrgInput = z.output<typeof CreateOrgInputSchema>;

/** `POST /v1/admin/orgs/:id/devices`: the token is shown once; only its SHA-256 is stored. */
export const IssueDeviceInputSchema = z.object({ name: z.string().min(1).max(200) }).strict();
export const DeviceTokenSchema = z.object({
  deviceId: z.string(),
  orgId: z.string(),
  name: z.string(),
  token: z.string(),
});
export type DeviceToken = z.infer<typeof DeviceTokenSchema>;

export const DeviceSchema = z.object({
  deviceId: z.string(),
  orgId: z.string(),
  name: z.string(),
  lastPushedSeq: z.number().int(),
  revokedAt: z.number().int().nullable(),
  lastSeenAt: z.number().int().nullable(),
  createdAt: z.number().int(),
});
export type Device = z.infer<typeof DeviceSchema>;

/** `POST /v1/admin/orgs/:id/topups`: idempotent by the client-made id (same id, other body: 409). */
export const TopUpInputSchema = z
  .object({
    id: z.uuid(),
    amountMicro: PositiveMicroSchema,
    reference: ReferenceSchema.optional(),
  })
  .strict();
export type TopUpInput = z.infer<typeof TopUpInputSchema>;

/** `POST /v1/admin/orgs/:id/adjustments`: a signed correction, idempotent like a top-up. */
export const AdjustmentInputSchema = z
  .object({
    id: z.uuid(),
    amountMicro: MicroSchema.refine((n) => n !== 0, 'must not be zero'),
    reference: ReferenceSchema,
  })
  .strict();
export type AdjustmentInput = z.infer<typeof AdjustmentInputSchema>;

export const HostedTransferSchema = z.object({
  id: z.string(),
  orgId: z.string(),
  kind: LedgerKindSchema,
  /** Signed from the org's side: + credit, - debit. */
  amountMicro: MicroSchema,
  reference: z.string().nullable(),
  /** Who wrote it: a device's push, or the server (top-ups, charges, commissions, adjustments). */
  source: z.enum(['device', 'server']),
  /** The cycle of the org it fell in (server time). */
  cycle: z.string(),
  createdAt: z.number().int(),
});
export type HostedTransfer = z.infer<typeof HostedTransferSchema>;

export const PostedSchema = z.object({
  transfer: HostedTransferSchema,
  /** False when the id was already stored with the same body (a repeat). */
  created: z.boolean(),
  balanceMicro: BalanceMicroSchema,
});
export type Posted = z.infer<typeof PostedSchema>;

/** `POST /v1/admin/orgs/:id/plan`. */
export const ChangePlanInputSchema = z
  .object({ planId: PlanIdSchema, when: PlanChangeWhenSchema.optional() })
  .strict();
export type ChangePlanInput = z.infer<typeof ChangePlanInputSchema>;

/** `POST /v1/admin/orgs/:id/referrer`: links an org that has no referrer yet. */
export const SetReferrerInputSchema = z.object({ referralCode: ReferralCodeSchema }).strict();

/** `POST /v1/admin/billing/run`: bills every org whose current cycle is not billed yet. */
export const BillingRunSchema = z.object({
  /** Orgs billed by this run (0 when everything was already billed). */
  billed: z.number().int(),
  /** Orgs whose credit could not pay their plan: moved to the free plan for the cycle. */
  downgraded: z.number().int(),
  chargedMicro: z.number().int(),
  commissionsMicro: z.number().int(),
  durationMs: z.number().int(),
});
export type BillingRun = z.infer<typeof BillingRunSchema>;

/** `GET /v1/orgs/:id/referrals`: the org's referral tree two levels down and what it earned. */
export const ReferralsReportSchema = z.object({
  orgId: z.string(),
  referralCode: z.string(),
  level1: z.array(z.object({ orgId: z.string(), name: z.string(), planId: z.string() })),
  level2: z.array(z.object({ orgId: z.string(), name: z.string(), planId: z.string(), via: z.string() })),
  /** Commissions credited to this org per cycle of its own (the one each was credited in), newest first. */
  monthly: z.array(
    z.object({
      cycle: z.string(),
      level1Micro: z.number().int(),
      level2Micro: z.number().int(),
      totalMicro: z.number().int(),
    }),
  ),
  totalMicro: z.number().int(),
});
export type ReferralsReport = z.infer<typeof ReferralsReportSchema>;

export const StatementQuerySchema = z.object({ cycle: CycleNameSchema.optional() }).strict();

/** `GET /v1/orgs/:id/statement?cycle=`: one cycle's transfers and totals (default: the current cycle). */
export const StatementSchema = z.object({
  orgId: z.string(),
  cycle: CycleSchema,
  plan: PlanSchema,
  openingMicro: z.number().int(),
  closingMicro: z.number().int(),
  /** Signed sums per kind (org's side). */
  totals: z.record(z.string(), z.number().int()),
  usage: z.object({ messages: z.number().int(), aiRuns: z.number().int() }),
  transfers: z.array(HostedTransferSchema),
});
export type Statement = z.infer<typeof StatementSchema>;

export const PlansListSchema = z.object({ plans: z.array(PlanSchema) });

export const HealthSchema = z.object({ status: z.literal('ok'), version: z.string(), database: z.string() });
