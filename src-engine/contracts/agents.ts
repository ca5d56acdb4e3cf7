import { z } from 'zod';
import { IdempotencyKeySchema } from './common.ts';

/** `POST /api/v1/agents/run` and IPC `agents:run`. */
export const RunAgentSchema = z
  .object({
    prompt: z.string().min(1).max(16_000),
    /** An Ollama model name; the engine's default model when omitted. */
    model: z.string().min(1).max(200).optional(),
    maxSteps: z.number().int().min(1).max(100).default(10),
    timeoutS: z.number().int().min(5).max(3600).default(600),
    idempotencyKey: IdempotencyKeySchema.optional(),
  })
  .strict();
export type RunAgentInput = z.input<typeof RunAgentSchema>;
export type RunAgent = z.output<typeof RunAgentSchema>;

export const RunAcceptedSchema = z.object({ runId: z.string() });
export type RunAccepted = z.infer<typeof RunAcceptedSchema>;

export const AgentRunStatusSchema = z.enum(['queued', 'running', 'success', 'error', 'timeout', 'cancelled']);
export type AgentRunStatus = z.infer<typeof AgentRunStatusSchema>;

export const AgentRunSchema = z.object({
  id: z.string(),
  orgId: z.string(),
  status: AgentRunStatusSchema,
  prompt: z.string(),
  model: z.string().nullable(),
  maxSteps: z.number().int(),
  timeoutS: z.number().int(),
  reservationId: z.string().nullable(),
  jobId: z.string().nullable(),
  output: z.string().nullable(),
  error: z.string().nullable(),
  stepsUsed: z.number().int().nullable(),
  tokensIn: z.number().int().nullable(),
  tokensOut: z.number().int().nullable(),
  createdAt: z.number().int(),
  startedAt: z.number().int().nullable(),
  finishedAt: z.number().int().nullable(),
});
export type AgentRun = z.infer<typeof AgentRunSchema>;
