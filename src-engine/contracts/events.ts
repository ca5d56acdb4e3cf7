import { z } from 'zod';
import { AgentLogEventSchema, AgentStatusEventSchema } from './cage.ts';
import { AlertSchema } from './compliance.ts';
import { LedgerKindSchema } from './ledger.ts';
import { LedgerCorrectedEventSchema } from './ledger-sync.ts';
import { InstanceHealthEventSchema } from './smartsend.ts';
import { MessageStatusSchema } from './whatsapp.ts';

/** `orgId`: the org the job's payload names (engine jobs all do); absent for jobs of no org. */
const base = { queue: z.string(), jobId: z.string(), orgId: z.string().optional(), ts: z.number().int() };

/** The queue's event stream, as the UI gets it over IPC and the WebSocket. */
export const JobEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('job.queued'), ...base, runAt: z.number().int() }),
  z.object({ type: z.literal('job.active'), ...base, attempt: z.number().int() }),
  z.object({ type: z.literal('job.progress'), ...base, progress: z.unknown() }),
  z.object({ type: z.literal('job.completed'), ...base, attempt: z.number().int(), durationMs: z.number() }),
  /** One attempt failed; `retrying` or `dead` follows. */
  z.object({ type: z.literal('job.failed'), ...base, attempt: z.number().int(), error: z.string() }),
  /** The job will run again at `runAt`; `attemptSpent` is false for a "not yet" postponement. */
  z.object({
    type: z.literal('job.retrying'),
    ...base,
    attempt: z.number().int(),
    runAt: z.number().int(),
    attemptSpent: z.boolean(),
    reason: z.string(),
  }),
  z.object({
    type: z.literal('job.dead'),
    ...base,
    deadLetterId: z.string(),
    attempts: z.number().int(),
    error: z.string(),
  }),
]);
export type JobEvent = z.infer<typeof JobEventSchema>;
export type JobEventType = JobEvent['type'];

const ledgerBase = { orgId: z.string(), ts: z.number().int() };
const holdBase = { ...ledgerBase, reservationId: z.string(), amountMicro: z.number().int() };

/** The local ledger's events: transfers posted and holds reserved/resolved. Money in micro-credits. */
export const LedgerEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('ledger.posted'),
    ...ledgerBase,
    transferId: z.string(),
    kind: LedgerKindSchema,
    /** Signed change of the org's posted balance. */
    amountMicro: z.number().int(),
    /** The org's posted balance after the transfer. */
    postedMicro: z.number().int(),
  }),
  z.object({ type: z.literal('ledger.reserved'), ...holdBase, expiresAt: z.number().int() }),
  z.object({
    type: z.literal('ledger.captured'),
    ...holdBase,
    capturedMicro: z.number().int(),
    transferId: z.string().nullable(),
  }),
  z.object({ type: z.literal('ledger.released'), ...holdBase }),
  z.object({ type: z.literal('ledger.expired'), ...holdBase }),
]);
export type LedgerEvent = z.infer<typeof LedgerEventSchema>;
export type LedgerEventType = LedgerEvent['type'];

/** A compliance alert was raised (70/85/95 % of the plan, low credit, a banned number, a failed run). */
export const AlertEventSchema = z.object({
  type: z.literal('alert.raised'),
  orgId: z.string(),
  ts: z.number().int(),
  alert: AlertSchema,
});
export type AlertEvent = z.infer<typeof AlertEventSchema>;

/** A message's delivery status changed (sent by SmartSend, then acked through the Evolution webhook). */
export const MessageStatusEventSchema = z.object({
  type: z.literal('message.status'),
  orgId: z.string(),
  messageId: z.string(),
  status: MessageStatusSchema,
  ts: z.number().int(),
});
export type MessageStatusEvent = z.infer<typeof MessageStatusEventSchema>;

export { InstanceHealthEventSchema, type InstanceHealthEvent } from './smartsend.ts';

/** Every event the engine emits. */
export const EngineEventSchema = z.union([
  JobEventSchema,
  LedgerEventSchema,
  LedgerCorrectedEventSchema,
  AlertEventSchema,
  InstanceHealthEventSchema,
  MessageStatusEventSchema,
  AgentLogEventSchema,
  AgentStatusEventSchema,
]);
export type EngineEvent = z.infer<typeof EngineEventSchema>;

/**
 * Events after which an org's credit or plan counters may read differently: a posting, a hold, a
 * capture or release, a correction from the hosted ledger; a message or an agent run settled (with
 * no ledger event when the plan's quota covered it). Compliance checks and the desktop's balance
 * follow these.
 */
export const movesCreditOrQuota = (e: EngineEvent): e is EngineEvent & { orgId: string } =>
  e.type.startsWith('ledger.') || e.type === 'message.status' || e.type === 'agent.status';
