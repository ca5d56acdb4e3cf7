import { z } from 'zod';
import { IdempotencyKeySchema } from './common.ts';

export const PrioritySchema = z.enum(['high', 'normal', 'low']);
export type Priority = z.infer<typeof PrioritySchema>;

/** `POST /api/v1/whatsapp/send` and IPC `whatsapp:send`. */
export const SendMessageSchema = z
  .object({
    /** A WhatsApp instance of the org, or "auto" to let SmartSend pick (sticky per recipient). */
    instanceId: z.union([z.literal('auto'), z.string().min(1).max(100)]),
    /** Digits only, with country code: 10 to 15 digits. */
    to: z.string().regex(/^\d{10,15}$/, 'digits only, 10 to 15, with country code'),
    text: z.string().min(1).max(4096),
    priority: PrioritySchema.default('normal'),
    idempotencyKey: IdempotencyKeySchema.optional(),
  })
  .strict();
export type SendMessageInput = z.input<typeof SendMessageSchema>;
export type SendMessage = z.output<typeof SendMessageSchema>;

export const SendAcceptedSchema = z.object({
  jobId: z.string(),
  messageId: z.string(),
  status: z.literal('queued'),
});
export type SendAccepted = z.infer<typeof SendAcceptedSchema>;

export const MessageStatusSchema = z.enum([
  'accepted',
  'queued',
  'sending',
  'sent',
  'delivered',
  'read',
  'failed',
]);
export type MessageStatus = z.infer<typeof MessageStatusSchema>;

export const MessageSchema = z.object({
  id: z.string(),
  orgId: z.string(),
  /** The instance asked for ("auto" until SmartSend picks one). */
  instanceId: z.string().nullable(),
  to: z.string(),
  text: z.string(),
  priority: PrioritySchema,
  status: MessageStatusSchema,
  jobId: z.string().nullable(),
  reservationId: z.string().nullable(),
  /** true when the message is within the plan's included messages (no credit held). */
  free: z.boolean(),
  evolutionMessageId: z.string().nullable(),
  error: z.string().nullable(),
  createdAt: z.number().int(),
  sentAt: z.number().int().nullable(),
});
export type Message = z.infer<typeof MessageSchema>;

export const InstanceHealthSchema = z.enum(['WARMUP', 'ACTIVE', 'THROTTLED', 'BANNED']);
export type InstanceHealth = z.infer<typeof InstanceHealthSchema>;

export const InstanceSchema = z.object({
  id: z.string(),
  orgId: z.string(),
  name: z.string(),
  evolutionInstance: z.string(),
  health: InstanceHealthSchema,
  healthReason: z.string().nullable(),
  healthChangedAt: z.number().int().nullable(),
  connectionState: z.string().nullable(),
  warmupStartedAt: z.number().int().nullable(),
  dailyCap: z.number().int().nullable(),
  createdAt: z.number().int(),
  /*
   * Today's pacing, in the org's local day, as SmartSend counts it (null where not computed: only
   * the instances list computes them, not the answer to adding one).
   */
  /** Sends counted against today's cap: messages sent, or slots reserved for later today. */
  sentToday: z.number().int().min(0).nullable(),
  /** Today's cap: the warm-up step, or `dailyCap` (own, else the engine's), halved while THROTTLED. */
  capToday: z.number().int().min(0).nullable(),
  /** The earliest instant the number may send a new message (pacing, caps, quiet hours); null if never (BANNED). */
  nextSendAt: z.number().int().nullable(),
  /** The warm-up day (1 = the org's local day it started) until the warm-up completes; then null. */
  warmupDay: z.number().int().min(1).nullable(),
});
export type Instance = z.infer<typeof InstanceSchema>;

/** Adding a WhatsApp number: limited by the plan's `maxInstances`. */
export const AddInstanceSchema = z
  .object({
    name: z.string().trim().min(1).max(100),
    evolutionInstance: z.string().trim().min(1).max(100),
    /** Start the warm-up as if it began this many days ago (1 = a new number). */
    warmupDay: z.number().int().min(1).max(365).default(1),
    idempotencyKey: IdempotencyKeySchema.optional(),
  })
  .strict();
export type AddInstanceInput = z.input<typeof AddInstanceSchema>;
