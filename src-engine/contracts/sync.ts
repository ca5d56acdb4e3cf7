import { z } from 'zod';
import { numberFromText } from './common.ts';
import {
  BalanceMicroSchema,
  CycleSchema,
  NonNegativeMicroSchema,
  MicroSchema,
  PlanSchema,
  ReferenceSchema,
} from './ledger.ts';

/*
 * The sync protocol between a desktop engine and the hosted ledger API (`src-ledger/SYNC.md`).
 * The desktop pushes the entries its local ledger wrote (usage), in the order of its own sequence;
 * it pulls what only the server writes (top-ups, commissions, plan charges, adjustments). The
 * server is authoritative for balance, plan and cycle, and assigns the authoritative time.
 * Auth: `Authorization: Bearer <device token>`; the token names the org.
 */

/** Most entries one push may carry. */
export const SYNC_PUSH_MAX = 1000;
/** Client timestamps older than this are refused. */
export const SYNC_MAX_AGE_MS = 35 * 86_400_000;
/** Client timestamps further ahead than this are refused. */
export const SYNC_MAX_SKEW_MS = 5 * 60_000;

/** Kinds a device may push: its usage. Credit only ever comes from the server. */
export const PushKindSchema = z.enum(['USAGE_MESSAGE', 'USAGE_AGENT']);
export type PushKind = z.infer<typeof PushKindSchema>;

/** Kinds only the server writes; a pull returns these. */
export const ServerKindSchema = z.enum(['TOPUP', 'COMMISSION', 'PLAN_CHARGE', 'ADJUSTMENT']);
export type ServerKind = z.infer<typeof ServerKindSchema>;

/** One local ledger entry as pushed: a debit of the org's credit by `amountMicro` (0 = a free unit). */
export const PushEntrySchema = z
  .object({
    /** The local transfer's client-made id; the server is idempotent by it. */
    id: z.uuid(),
    /** The device's own sequence, strictly increasing within a push and across pushes. */
    seq: z.number().int().min(1),
    kind: PushKindSchema,
    amountMicro: NonNegativeMicroSchema,
    reference: ReferenceSchema.optional(),
    /** Client time (ms since epoch): bounded by SYNC_MAX_AGE_MS and SYNC_MAX_SKEW_MS. */
    createdAt: z.number().int(),
  })
  .strict();
export type PushEntry = z.infer<typeof PushEntrySchema>;

/**
 * Usage counts for the cycle the device believes is current. As `usage`: the org's counters as the
 * device sees them (raised to the server's), of which the server keeps the max it saw. As
 * `deviceUsage`: what this device (this token) did itself; the server keeps each device's max and
 * counts the org's usage as their sum, so several desktops of one org add up.
 */
export const USAGE_COUNT_MAX = 2_147_483_647;

export const UsageReportSchema = z
  .object({
    cycle: z.string().regex(/^\d{4}-\d{2}$/),
    // The server's counters are 32-bit integers (and a month holds nowhere near this many).
    messages: z.number().int().min(0).max(USAGE_COUNT_MAX),
    aiRuns: z.number().int().min(0).max(USAGE_COUNT_MAX),
  })
  .strict();
export type UsageReport = z.infer<typeof UsageReportSchema>;

/** `POST /v1/sync/push`. */
export const PushRequestSchema = z
  .object({
    /** The last seq the server acknowledged to this device (0 before the first push). */
    lastPushedSeq: z.number().int().min(0),
    entries: z.array(PushEntrySchema).max(SYNC_PUSH_MAX),
    usage: UsageReportSchema.optional(),
    deviceUsage: UsageReportSchema.optional(),
  })
  .strict()
  .refine((r) => r.entries.every((e, i) => i === 0 || e.seq > r.entries[i - 1]!.seq), {
    message: 'entries must be in strictly increasing seq order',
    path: ['entries'],
  });
export type PushRequest = z.infer<typeof PushRequestSchema>;

/** What the server says is true for the org now; the desktop corrects its local state from it. */
export const AuthoritySchema = z.object({
  orgId: z.string(),
  /** Posted balance on the server, after this push. */
  balanceMicro: BalanceMicroSchema,
  plan: PlanSchema,
  cycle: CycleSchema,
  /**
   * The org's billing anchor (ms), which cycles are monthly anniversaries of. Not `cycle.startsAt`:
   * an anchor on the 31st starts February's cycle on the 28th, and the 31st again in March.
   * Optional: a server without it leaves the device to the current cycle's start.
   */
  cycleAnchor: z.number().int().optional(),
  /** Counters of the current cycle as the server knows them. */
  usage: z.object({ messages: z.number().int(), aiRuns: z.number().int() }),
  /** Server time (ms) of this answer. */
  serverTime: z.number().int(),
});
export type Authority = z.infer<typeof AuthoritySchema>;

export const PushRejectionSchema = z.object({
  id: z.string(),
  seq: z.number().int(),
  /** CONFLICT (same id, other body) or VALIDATION_ERROR (e.g. a timestamp out of bounds). */
  error: z.enum(['CONFLICT', 'VALIDATION_ERROR']),
  message: z.string(),
});

export const PushResponseSchema = AuthoritySchema.extend({
  /** Ids stored now or already stored with the same body: the device may drop them from its outbox. */
  accepted: z.array(z.string()),
  /** Ids the server will never take; the device drops them too and raises an alert. */
  rejected: z.array(PushRejectionSchema),
  /** The highest seq the server has settled for this device (accepted or rejected). */
  lastPushedSeq: z.number().int().min(0),
});
export type PushResponse = z.infer<typeof PushResponseSchema>;

/** `GET /v1/sync/pull?cursor=&limit=`. */
export const PullQuerySchema = z
  .object({
    /** Opaque; omit for the beginning. */
    cursor: z.string().max(200).optional(),
    limit: numberFromText(z.number().int().min(1).max(SYNC_PUSH_MAX).default(500)),
  })
  .strict();
export type PullQuery = z.infer<typeof PullQuerySchema>;

/** An entry the server wrote for the org: signed from the org's side (+ credit, - debit). */
export const PulledEntrySchema = z.object({
  id: z.uuid(),
  kind: ServerKindSchema,
  amountMicro: MicroSchema,
  reference: z.string().nullable(),
  /** Server time. */
  createdAt: z.number().int(),
});
export type PulledEntry = z.infer<typeof PulledEntrySchema>;

export const PullResponseSchema = AuthoritySchema.extend({
  entries: z.array(PulledEntrySchema),
  /** Pass back as `cursor`; unchanged when there was nothing new. */
  nextCursor: z.string(),
  hasMore: z.boolean(),
});
export type PullResponse = z.infer<typeof PullResponseSchema>;
