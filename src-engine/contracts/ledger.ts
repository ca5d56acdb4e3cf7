import { z } from 'zod';

// Money is integer micro-credits: 1 credit = 1,000,000 micro (= US$1). Never floats.

/** Money is integer micro-credits: one credit is this many. */
export const MICRO_PER_CREDIT = 1_000_000;

/**
 * The largest amount one transfer or hold may move: 1e9 credits, exact in a JS number (a balance is
 * exact up to 2^53 - 1 micro, about 9e9 credits: the ledger refuses a transfer that would pass it).
 */
export const MAX_AMOUNT_MICRO = 1_000_000_000_000_000;

export const MicroSchema = z.number().int().min(-MAX_AMOUNT_MICRO).max(MAX_AMOUNT_MICRO);
/** A balance: a sum of amounts, any exact (safe) integer, not bounded like one amount. */
export const BalanceMicroSchema = z.number().int();
export const PositiveMicroSchema = z.number().int().min(1).max(MAX_AMOUNT_MICRO);
export const NonNegativeMicroSchema = z.number().int().min(0).max(MAX_AMOUNT_MICRO);

export const LedgerKindSchema = z.enum([
  'TOPUP',
  'USAGE_MESSAGE',
  'USAGE_AGENT',
  'COMMISSION',
  'ADJUSTMENT',
  'PLAN_CHARGE',
]);
export type LedgerKind = z.infer<typeof LedgerKindSchema>;

/**
 * The signed change a transfer makes to its org's credit. A transfer's `amountMicro` is signed only
 * for ADJUSTMENT; TOPUP and COMMISSION bring credit in, every other kind takes it out.
 */
export function orgDelta(kind: LedgerKind, amountMicro: number): number {
  if (kind === 'ADJUSTMENT') return amountMicro;
  return kind === 'TOPUP' || kind === 'COMMISSION' ? amountMicro : -amountMicro;
}

/** Kinds a captured reservation may post. */
export const UsageKindSchema = z.enum(['USAGE_MESSAGE', 'USAGE_AGENT']);
export type UsageKind = z.infer<typeof UsageKindSchema>;

export const OrgIdSchema = z.string().min(1).max(200);
export const ReferenceSchema = z.string().min(1).max(500);

/**
 * A transfer between an org's credit account and the system account its kind names. `amountMicro` is
 * positive; only ADJUSTMENT may be negative (a debit of the org). The id is client-made: posting the
 * same id again with the same body returns the stored transfer; with a different body it is a CONFLICT.
 */
export const TransferInputSchema = z
  .object({
    id: z.uuid(),
    orgId: OrgIdSchema,
    kind: LedgerKindSchema,
    amountMicro: MicroSchema.refine((n) => n !== 0, 'must not be zero'),
    reference: ReferenceSchema.optional(),
  })
  .strict()
  .refine((t) => t.kind === 'ADJUSTMENT' || t.amountMicro > 0, {
    message: 'only ADJUSTMENT may be negative',
    path: ['amountMicro'],
  });
export type TransferInput = z.input<typeof TransferInputSchema>;

export const LedgerEntrySchema = z.object({
  id: z.string(),
  transferId: z.string(),
  orgId: z.string(),
  account: z.string(),
  /** Signed: positive = credit to the account, negative = debit. */
  amountMicro: z.number().int(),
  kind: LedgerKindSchema,
  reference: z.string().nullable(),
  createdAt: z.number().int(),
});
export type LedgerEntry = z.infer<typeof LedgerEntrySchema>;

export const TransferSchema = z.object({
  id: z.string(),
  orgId: z.string(),
  kind: LedgerKindSchema,
  amountMicro: z.number().int(),
  reference: z.string().nullable(),
  reservationId: z.string().nullable(),
  createdAt: z.number().int(),
  entries: z.array(LedgerEntrySchema),
});
export type Transfer = z.infer<typeof TransferSchema>;

/** available = posted - pending holds (unexpired). */
export const BalanceSchema = z.object({
  orgId: z.string(),
  postedMicro: z.number().int(),
  pendingMicro: z.number().int(),
  availableMicro: z.number().int(),
});
export type Balance = z.infer<typeof BalanceSchema>;

export const ReservationStateSchema = z.enum(['pending', 'posted', 'voided', 'expired']);
export type ReservationState = z.infer<typeof ReservationStateSchema>;

export const ReservationSchema = z.object({
  id: z.string(),
  orgId: z.string(),
  amountMicro: z.number().int(),
  capturedMicro: z.number().int().nullable(),
  state: ReservationStateSchema,
  reference: z.string().nullable(),
  jobId: z.string().nullable(),
  transferId: z.string().nullable(),
  expiresAt: z.number().int(),
  createdAt: z.number().int(),
  resolvedAt: z.number().int().nullable(),
});
export type Reservation = z.infer<typeof ReservationSchema>;

export const ReserveInputSchema = z
  .object({
    orgId: OrgIdSchema,
    amountMicro: NonNegativeMicroSchema,
    ttlMs: z
      .number()
      .int()
      .min(1)
      .max(30 * 86_400_000),
    /** Client-made id: reserving the same id again with the same body returns the first hold. */
    id: z.uuid().optional(),
    reference: ReferenceSchema.optional(),
    jobId: z.string().min(1).max(200).optional(),
  })
  .strict();
export type ReserveInput = z.input<typeof ReserveInputSchema>;

export const CaptureInputSchema = z
  .object({
    id: z.string().min(1),
    amountMicro: NonNegativeMicroSchema,
    kind: UsageKindSchema,
  })
  .strict();

export const PlanSchema = z.object({
  id: z.string(),
  name: z.string(),
  priceMicro: z.number().int(),
  messagesIncluded: z.number().int(),
  /** null = unlimited */
  aiRunsIncluded: z.number().int().nullable(),
  maxInstances: z.number().int(),
  whiteLabel: z.boolean(),
  rateLimitPerMin: z.number().int(),
  overdraftMicro: z.number().int(),
  updatedAt: z.number().int(),
});
export type Plan = z.infer<typeof PlanSchema>;

export const PriceKeySchema = z.enum(['message.overage', 'agent.run']);
export type PriceKey = z.infer<typeof PriceKeySchema>;

export const PriceSchema = z.object({
  key: z.string(),
  amountMicro: z.number().int(),
  description: z.string(),
  updatedAt: z.number().int(),
});
export type Price = z.infer<typeof PriceSchema>;
export const PriceBookSchema = z.record(z.string(), PriceSchema);
export type PriceBook = z.infer<typeof PriceBookSchema>;

export const CycleSchema = z.object({
  /** 'YYYY-MM' of the cycle's start (UTC). */
  cycle: z.string().regex(/^\d{4}-\d{2}$/),
  startsAt: z.number().int(),
  endsAt: z.number().int(),
});
export type Cycle = z.infer<typeof CycleSchema>;

export const UsageSchema = z.object({
  orgId: z.string(),
  cycle: z.string(),
  messages: z.number().int(),
  aiRuns: z.number().int(),
});
export type Usage = z.infer<typeof UsageSchema>;

export const QuotaSchema = z.object({
  orgId: z.string(),
  plan: PlanSchema,
  cycle: CycleSchema,
  messages: z.object({ used: z.number().int(), included: z.number().int() }),
  /** included null = unlimited */
  aiRuns: z.object({ used: z.number().int(), included: z.number().int().nullable() }),
});
export type Quota = z.infer<typeof QuotaSchema>;

export const VerifyReportSchema = z.object({
  ok: z.boolean(),
  /** Cached balances that differ from the sum of their entries (a missing side counts as 0). */
  balanceMismatches: z.array(
    z.object({ account: z.string(), cachedMicro: z.number().int(), derivedMicro: z.number().int() }),
  ),
  /** Transfers whose entries do not sum to zero, or that have no entries. */
  unbalancedTransfers: z.array(
    z.object({ transferId: z.string(), sumMicro: z.number().int(), entries: z.number().int() }),
  ),
  /** Captured holds that posted more than they held, or whose transfer disagrees. */
  badReservations: z.array(z.object({ reservationId: z.string(), problem: z.string() })),
});
export type VerifyReport = z.infer<typeof VerifyReportSchema>;
