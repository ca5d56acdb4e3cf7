import { z } from 'zod';
import { AlertKindSchema } from './compliance.ts';

/*
 * The desktop side of the hosted-ledger sync (`src-engine/ledger/sync`): its status and the event it
 * emits whenever the server's answer corrects local state. The wire protocol itself is `sync.ts`.
 */

const UsageCountsSchema = z.object({ messages: z.number().int(), aiRuns: z.number().int() });

/** What one correction changed. The server is authoritative for balance, plan and cycle. */
export const LedgerCorrectionSchema = z.discriminatedUnion('what', [
  /** Local posted balance set to the server's minus local usage it has not acknowledged yet. */
  z.object({
    what: z.literal('balance'),
    fromMicro: z.number().int(),
    toMicro: z.number().int(),
    /** The local ADJUSTMENT transfer that made the correction. */
    transferId: z.string(),
  }),
  /** The org's plan (or the terms of that plan) as the server has it. */
  z.object({ what: z.literal('plan'), from: z.string(), to: z.string() }),
  /** The org's billing cycle as the server has it; `startsAt` is the new local anchor. */
  z.object({ what: z.literal('cycle'), from: z.string(), to: z.string(), startsAt: z.number().int() }),
  /** The cycle's usage counters raised to what the server counted. */
  z.object({ what: z.literal('usage'), cycle: z.string(), from: UsageCountsSchema, to: UsageCountsSchema }),
]);
export type LedgerCorrection = z.infer<typeof LedgerCorrectionSchema>;

/** `ledger.corrected`: local state was corrected from the hosted ledger's answer. */
export const LedgerCorrectedEventSchema = z.object({
  type: z.literal('ledger.corrected'),
  orgId: z.string(),
  ts: z.number().int(),
  /** The server time of the answer the correction came from. */
  serverTime: z.number().int(),
  correction: LedgerCorrectionSchema,
});
export type LedgerCorrectedEvent = z.infer<typeof LedgerCorrectedEventSchema>;

/** Alerts the sync raises (stored with the compliance alerts). */
export const SyncAlertKindSchema = AlertKindSchema.extract(['ledger_offline', 'ledger_rejected']);
export type SyncAlertKind = z.infer<typeof SyncAlertKindSchema>;

/** Where the desktop stands with the hosted ledger (health and the CLI show it). */
export const SyncStatusSchema = z.object({
  /** The server's org this desktop is linked to; null before the first sync. */
  orgId: z.string().nullable(),
  lastSyncAt: z.number().int().nullable(),
  lastAttemptAt: z.number().int().nullable(),
  lastError: z.string().nullable(),
  /** Local usage entries not yet settled by the server. */
  pendingEntries: z.number().int(),
  /** The server's posted balance at the last sync. */
  balanceMicro: z.number().int().nullable(),
  /** Past LEDGER_OFFLINE_GRACE_H without a sync: overage is refused. */
  offline: z.boolean(),
});
export type SyncStatus = z.infer<typeof SyncStatusSchema>;

/** What one sync run did. */
export const SyncResultSchema = z.object({
  ok: z.boolean(),
  pushed: z.number().int(),
  rejected: z.number().int(),
  pulled: z.number().int(),
  corrections: z.number().int(),
  error: z.string().optional(),
});
export type SyncResult = z.infer<typeof SyncResultSchema>;
