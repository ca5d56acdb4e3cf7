import { z } from 'zod';
import { AiModelListSchema, AiVoiceListSchema } from './ai.ts';
import { AgentRunSchema, RunAcceptedSchema, RunAgentSchema } from './agents.ts';
import { BrandingSchema, SetBrandingSchema } from './branding.ts';
import { RunLogPageSchema, RunLogQuerySchema } from './cage.ts';
import { BillingBalanceSchema, ReferralsViewSchema, TransactionsPageSchema } from './billing.ts';
import { CursorQuerySchema, IdParamSchema, numberFromText, pageOf } from './common.ts';
import { AlertSchema } from './compliance.ts';
import { HealthSchema } from './health.ts';
import { AddResultSchema, DeadLetterSchema, QueueNameSchema } from './queue.ts';
import {
  AddInstanceSchema,
  InstanceSchema,
  MessageSchema,
  SendAcceptedSchema,
  SendMessageSchema,
} from './whatsapp.ts';

/**
 * Every operation the engine offers, once: the HTTP API (`/api/v1` + path) and IPC (channel = the
 * operation's name, `area:method`) are both generated from this table, so the desktop UI and an
 * integration call the same thing with the same schemas. Path parameters (`:id`) and, for GET, the
 * query string, are merged into the one input object; for POST the body is.
 */
export interface Operation<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly summary: string;
  readonly input: I;
  readonly output: O;
  /** HTTP status of success (202 for work that is queued). */
  readonly status: 200 | 201 | 202;
  /** No authentication (health only). */
  readonly public?: boolean;
}

const op = <I extends z.ZodType, O extends z.ZodType>(o: Operation<I, O>) => o;
const none = z.object({}).strict();

export const DeadLetterListSchema = z
  .object({
    queue: QueueNameSchema.optional(),
    resolved: z
      .enum(['true', 'false'])
      .transform((v) => v === 'true')
      .optional(),
    limit: numberFromText(z.number().int().min(1).max(500).default(50)),
    cursor: z.string().max(100).optional(),
  })
  .strict();

export const OPERATIONS = {
  'health:get': op({
    method: 'GET',
    path: '/health',
    summary: 'Engine health (200 ok, 503 degraded)',
    input: none,
    output: HealthSchema,
    status: 200,
    public: true,
  }),
  'whatsapp:send': op({
    method: 'POST',
    path: '/whatsapp/send',
    summary: 'Queue a WhatsApp message (guarded, charged, idempotent)',
    input: SendMessageSchema,
    output: SendAcceptedSchema,
    status: 202,
  }),
  'whatsapp:message': op({
    method: 'GET',
    path: '/whatsapp/messages/:id',
    summary: 'A queued or sent message',
    input: IdParamSchema,
    output: MessageSchema,
    status: 200,
  }),
  'whatsapp:instances': op({
    method: 'GET',
    path: '/whatsapp/instances',
    summary: "The org's WhatsApp instances and their health",
    input: none,
    output: z.object({ items: z.array(InstanceSchema) }),
    status: 200,
  }),
  'whatsapp:addInstance': op({
    method: 'POST',
    path: '/whatsapp/instances',
    summary: 'Add a WhatsApp instance (limited by the plan)',
    input: AddInstanceSchema,
    output: InstanceSchema,
    status: 201,
  }),
  'agents:run': op({
    method: 'POST',
    path: '/agents/run',
    summary: 'Queue an agent run in a cage (guarded, charged, idempotent)',
    input: RunAgentSchema,
    output: RunAcceptedSchema,
    status: 202,
  }),
  'agents:get': op({
    method: 'GET',
    path: '/agents/runs/:id',
    summary: 'An agent run',
    input: IdParamSchema,
    output: AgentRunSchema,
    status: 200,
  }),
  'agents:list': op({
    method: 'GET',
    path: '/agents/runs',
    summary: "The org's agent runs, newest first",
    input: CursorQuerySchema,
    output: pageOf(AgentRunSchema),
    status: 200,
  }),
  'agents:logs': op({
    method: 'GET',
    path: '/agents/runs/:id/logs',
    summary: "A run's stored log in order (replay), after `afterSeq`",
    input: RunLogQuerySchema,
    output: RunLogPageSchema,
    status: 200,
  }),
  'agents:cancel': op({
    method: 'POST',
    path: '/agents/runs/:id/cancel',
    summary: 'Cancel a queued or running agent run (its hold is released)',
    input: IdParamSchema,
    output: AgentRunSchema,
    status: 202,
  }),
  'ai:models': op({
    method: 'GET',
    path: '/ai/models',
    summary: 'Models installed in Ollama (503 when Ollama is unreachable)',
    input: none,
    output: AiModelListSchema,
    status: 200,
  }),
  'ai:voices': op({
    method: 'GET',
    path: '/ai/voices',
    summary: 'Voices Kokoro offers (503 when Kokoro is unreachable)',
    input: none,
    output: AiVoiceListSchema,
    status: 200,
  }),
  'billing:balance': op({
    method: 'GET',
    path: '/billing/balance',
    summary: 'Posted, held and available credit, with the plan quota',
    input: none,
    output: BillingBalanceSchema,
    status: 200,
  }),
  'billing:transactions': op({
    method: 'GET',
    path: '/billing/transactions',
    summary: 'Ledger transfers, newest first',
    input: CursorQuerySchema,
    output: TransactionsPageSchema,
    status: 200,
  }),
  'billing:referrals': op({
    method: 'GET',
    path: '/billing/referrals',
    summary:
      "The org's referral code, level-1/level-2 referrals and monthly commissions from the hosted ledger, and this cycle's commissions",
    input: none,
    output: ReferralsViewSchema,
    status: 200,
  }),
  'compliance:alerts': op({
    method: 'GET',
    path: '/compliance/alerts',
    summary: 'Compliance alerts, newest first',
    input: CursorQuerySchema,
    output: pageOf(AlertSchema),
    status: 200,
  }),
  'dlq:list': op({
    method: 'GET',
    path: '/dlq',
    summary: "The org's dead letters, newest first",
    input: DeadLetterListSchema,
    output: z.object({ items: z.array(DeadLetterSchema), nextCursor: z.string().optional() }),
    status: 200,
  }),
  'dlq:retry': op({
    method: 'POST',
    path: '/dlq/:id/retry',
    summary: 'Re-queue a dead letter with a fresh attempt series',
    input: IdParamSchema,
    output: AddResultSchema,
    status: 202,
  }),
  'dlq:resolve': op({
    method: 'POST',
    path: '/dlq/:id/resolve',
    summary: 'Mark a dead letter resolved',
    input: IdParamSchema,
    output: DeadLetterSchema,
    status: 200,
  }),
  'branding:get': op({
    method: 'GET',
    path: '/branding',
    summary: "The org's white-label branding, and whether its plan allows it",
    input: none,
    output: z.object({ branding: BrandingSchema.nullable(), allowed: z.boolean() }),
    status: 200,
  }),
  'branding:set': op({
    method: 'POST',
    path: '/branding',
    summary: 'Set white-label branding (Partner plan)',
    input: SetBrandingSchema,
    output: BrandingSchema,
    status: 200,
  }),
} as const satisfies Record<string, Operation>;

export type OperationName = keyof typeof OPERATIONS;
export type OperationInput<N extends OperationName> = z.input<(typeof OPERATIONS)[N]['input']>;
export type OperationOutput<N extends OperationName> = z.output<(typeof OPERATIONS)[N]['output']>;
