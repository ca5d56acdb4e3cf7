import { z } from 'zod';
import { numberFromText } from './common.ts';
import { AgentRunStatusSchema } from './agents.ts';

// ---------------------------------------------------------------------------------------------
// The cage protocol (cage/PROTOCOL.md): NDJSON over the container's stdio. Shared by the runner
// inside the cage (bundled into it) and the engine. Everything a runner sends is untrusted: the
// engine parses it with these schemas and every string and list is bounded.
// ---------------------------------------------------------------------------------------------

export const CAGE_PROTOCOL_VERSION = 1;

/** Longest line either side sends or accepts, newline excluded. Longer lines are dropped whole. */
export const MAX_LINE_BYTES = 1 << 20;
/** Tool output kept for the model and the log; the rest is cut (and counted). */
export const TOOL_OUTPUT_MAX_BYTES = 16 << 10;
/** Bytes `read_file` returns at most; `write_file` content is bounded by the line limit. */
export const READ_FILE_MAX_BYTES = 64 << 10;
/** A `tool_end` line carries at most this much of the output (the model gets all of it). */
export const TOOL_END_OUTPUT_MAX_CHARS = 32_768;
export const DEFAULT_TOOL_TIMEOUT_S = 30;
/** A `result`'s output at most; the runner cuts a longer final answer. */
export const RESULT_OUTPUT_MAX_CHARS = 65_536;
/** Tool calls in one model answer, and tool schemas in one request. */
export const MAX_TOOL_CALLS = 64;

const text = (max: number) => z.string().max(max);
const id = z.string().min(1).max(128);

export const CAGE_TOOL_NAMES = ['shell', 'read_file', 'write_file', 'finish'] as const;
export const CageToolNameSchema = z.enum(CAGE_TOOL_NAMES);
export type CageToolName = z.infer<typeof CageToolNameSchema>;

/** A tool call as the model returns it (Ollama's shape: `arguments` is an object). */
export const CageToolCallSchema = z.object({
  id: id.optional(),
  function: z.object({ name: text(128), arguments: z.record(z.string(), z.unknown()) }),
});
export type CageToolCall = z.infer<typeof CageToolCallSchema>;

/** One chat message, in the shape Ollama's `/api/chat` takes, so the engine can pass it on. */
export const CageChatMessageSchema = z.object({
  role: z.enum(['system', 'user', 'assistant', 'tool']),
  content: z.string(),
  tool_calls: z.array(CageToolCallSchema).max(MAX_TOOL_CALLS).optional(),
  /** On a `tool` message: the tool whose result this is. */
  tool_name: text(128).optional(),
});
export type CageChatMessage = z.infer<typeof CageChatMessageSchema>;

/** A function the model may call, as a JSON schema (Ollama's and OpenAI's `tools[]` entry). */
export const CageToolSchemaSchema = z.object({
  type: z.literal('function'),
  function: z.object({
    name: text(128),
    description: text(4096).optional(),
    parameters: z.record(z.string(), z.unknown()),
  }),
});
export type CageToolSchema = z.infer<typeof CageToolSchemaSchema>;

// ----- engine -> runner ----------------------------------------------------------------------

export const CageTaskSchema = z.object({
  type: z.literal('task'),
  taskId: id,
  prompt: z.string().min(1).max(64_000),
  /** Informational: the engine picks the model for every request, whatever the runner says. */
  model: text(200),
  maxSteps: z.number().int().min(1).max(1000),
  /** Tools the runner may offer the model; `finish` is always offered. */
  tools: z.array(CageToolNameSchema).max(CAGE_TOOL_NAMES.length),
  /** Per-call limit of a `shell` command. */
  toolTimeoutS: z.number().int().min(1).max(3600).default(DEFAULT_TOOL_TIMEOUT_S),
});
export type CageTask = z.output<typeof CageTaskSchema>;
export type CageTaskInput = z.input<typeof CageTaskSchema>;

export const CageUsageSchema = z.object({
  promptTokens: z.number().int().nonnegative(),
  completionTokens: z.number().int().nonnegative(),
});
export type CageUsage = z.infer<typeof CageUsageSchema>;

/** The answer to one `llm_request`: the assistant's message, or `error` (the run is ending). */
export const CageLlmResponseSchema = z
  .object({
    type: z.literal('llm_response'),
    requestId: id,
    message: CageChatMessageSchema.extend({ role: z.literal('assistant') }).optional(),
    usage: CageUsageSchema.optional(),
    error: text(4096).optional(),
  })
  .refine((m) => (m.message === undefined) !== (m.error === undefined), 'exactly one of message and error');
export type CageLlmResponse = z.infer<typeof CageLlmResponseSchema>;

export const CageCancelSchema = z.object({ type: z.literal('cancel'), reason: text(1000).optional() });
export type CageCancel = z.infer<typeof CageCancelSchema>;

export const EngineMessageSchema = z.union([CageTaskSchema, CageLlmResponseSchema, CageCancelSchema]);
export type EngineMessage = z.input<typeof EngineMessageSchema>;

// ----- runner -> engine ----------------------------------------------------------------------

export const CageLogMessageSchema = z.object({
  type: z.literal('log'),
  level: z.enum(['debug', 'info', 'warn', 'error']),
  text: text(16_384),
});

export const CageLlmRequestSchema = z.object({
  type: z.literal('llm_request'),
  requestId: id,
  messages: z.array(CageChatMessageSchema).min(1).max(2000),
  tools: z.array(CageToolSchemaSchema).max(MAX_TOOL_CALLS).default([]),
});
export type CageLlmRequest = z.output<typeof CageLlmRequestSchema>;

export const CageToolStartSchema = z.object({
  type: z.literal('tool_start'),
  callId: id,
  tool: text(128),
  args: z.record(z.string(), z.unknown()),
});

export const CageToolEndSchema = z.object({
  type: z.literal('tool_end'),
  callId: id,
  tool: text(128),
  ok: z.boolean(),
  output: text(TOOL_END_OUTPUT_MAX_CHARS),
  durationMs: z.number().nonnegative(),
});

export const CageResultStatusSchema = z.enum(['success', 'error', 'timeout']);
export type CageResultStatus = z.infer<typeof CageResultStatusSchema>;

export const CageResultSchema = z.object({
  type: z.literal('result'),
  status: CageResultStatusSchema,
  output: text(RESULT_OUTPUT_MAX_CHARS),
  stepsUsed: z.number().int().nonnegative(),
});

export const RunnerMessageSchema = z.discriminatedUnion('type', [
  CageLogMessageSchema,
  CageLlmRequestSchema,
  CageToolStartSchema,
  CageToolEndSchema,
  CageResultSchema,
]);
export type RunnerMessage = z.input<typeof RunnerMessageSchema>;
export type RunnerMessageParsed = z.output<typeof RunnerMessageSchema>;

// ----- the engine's side: log records, run results, options ----------------------------------

/**
 * Where a log record came from: the runner's `log` lines, its stderr, tool calls, the model's
 * token stream, or the engine's own notes about the run (limits, exits, dropped lines).
 */
export const CageLogStreamSchema = z.enum(['runner', 'stderr', 'tool', 'llm', 'engine']);
export type CageLogStream = z.infer<typeof CageLogStreamSchema>;

/** One line of a run's live log, numbered from 1 in the order the engine saw it. */
export const CageLogRecordSchema = z.object({
  runId: z.string(),
  seq: z.number().int().positive(),
  ts: z.number().int(),
  stream: CageLogStreamSchema,
  text: z.string(),
});
export type CageLogRecord = z.infer<typeof CageLogRecordSchema>;

/** How a run ended, engine-side; `cancelled` is the engine's own (the runner only knows 3). */
export const CageRunStatusSchema = z.enum(['success', 'error', 'timeout', 'cancelled']);
export type CageRunStatus = z.infer<typeof CageRunStatusSchema>;

/** Why a run that did not succeed ended, for code (the message is in `output`). */
export const CageFailureSchema = z.enum([
  'runner_error', // the runner reported an error or timeout result
  'step_limit', // more model requests, or tool calls, than allowed
  'token_budget',
  'llm_error', // Ollama failed: model not found, 5xx, a mid-stream error, unreachable
  'out_of_memory',
  'output_limit', // the runner wrote more than the engine takes
  'protocol', // the runner broke the protocol in a way the run cannot survive
  'exited', // the container stopped without a result
  'timeout',
  'cancelled',
]);
export type CageFailure = z.infer<typeof CageFailureSchema>;

export const CageRunResultSchema = z.object({
  runId: z.string(),
  status: CageRunStatusSchema,
  failure: CageFailureSchema.nullable(),
  output: z.string(),
  /** Model requests the engine accepted (at most maxSteps): its own count, not the runner's claim. */
  stepsUsed: z.number().int().nonnegative(),
  toolCalls: z.number().int().nonnegative(),
  tokensIn: z.number().int().nonnegative(),
  tokensOut: z.number().int().nonnegative(),
  exitCode: z.number().int().nullable(),
  durationMs: z.number().nonnegative(),
  /** From `start` to the runner's first line: the cage's cold-start cost. Null if it never spoke. */
  firstLineMs: z.number().nonnegative().nullable(),
  logRecords: z.number().int().nonnegative(),
  droppedLogRecords: z.number().int().nonnegative(),
});
export type CageRunResult = z.infer<typeof CageRunResultSchema>;

export const DEFAULT_CAGE_IMAGE = 'agencia-cage:latest';

/** The cage engine's settings (`CAGE_*` and `DOCKER_HOST` in the engine's config). */
export const CageOptionsSchema = z.object({
  image: z.string().min(1).default(DEFAULT_CAGE_IMAGE),
  memoryMb: z
    .number()
    .int()
    .min(32)
    .max(1 << 20)
    .default(512),
  cpus: z.number().positive().max(1024).default(1),
  pidsLimit: z
    .number()
    .int()
    .min(8)
    .max(1 << 16)
    .default(128),
  /** Size of the writable `/workspace` tmpfs (it also counts against `memoryMb`). */
  workspaceMb: z
    .number()
    .int()
    .min(1)
    .max(1 << 16)
    .default(64),
  tmpMb: z
    .number()
    .int()
    .min(1)
    .max(1 << 16)
    .default(16),
  /** Wall-clock limit of a run, unless the task asks for a shorter one. */
  timeoutS: z.number().int().min(1).max(86_400).default(600),
  /** An OCI runtime Docker knows (e.g. `runsc` for gVisor). Required when set: runs fail if absent. */
  runtime: z.string().min(1).optional(),
  concurrency: z.number().int().min(1).max(64).default(2),
  /** Per-run limit of model tokens (prompt + answer); unset = no limit. */
  tokenBudget: z.number().int().positive().optional(),
  /**
   * Records surfaced per run; the rest are counted as dropped, except the line saying so and the
   * engine's few notes on how the run ends.
   */
  maxLogRecords: z.number().int().positive().default(200_000),
  /**
   * Longest wait for one Docker call of a run (create, attach, start, kill, inspect, remove): a
   * Docker that takes the connection and never answers must not hold a run, or the engine's close.
   */
  dockerTimeoutMs: z.number().int().positive().max(600_000).default(15_000),
  /** Bytes of stdout + stderr a run may write; beyond, the run is stopped with `output_limit`. */
  maxOutputBytes: z
    .number()
    .int()
    .positive()
    .default(64 << 20),
  /** Time the runner gets to answer a `cancel` before it is killed. */
  cancelGraceMs: z.number().int().nonnegative().default(2000),
  /** Labels this engine's containers, so a reaper only removes its own on a shared Docker host. */
  engineId: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/)
    .default('local'),
});
export type CageOptions = z.output<typeof CageOptionsSchema>;
export type CageOptionsInput = z.input<typeof CageOptionsSchema>;

/** A run id becomes a container label value; keep it to a safe alphabet. */
export const CageRunIdSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/);

/** What the engine's `agent.run` worker asks the cage for. */
export const CageRunRequestSchema = z.object({
  runId: CageRunIdSchema,
  prompt: z.string().min(1).max(64_000),
  model: z.string().min(1).max(200),
  maxSteps: z.number().int().min(1).max(1000),
  tools: z.array(CageToolNameSchema).default([...CAGE_TOOL_NAMES]),
  /** Shorter than the engine's `timeoutS` only: a task cannot extend the engine's limit. */
  timeoutS: z.number().int().min(1).max(86_400).optional(),
  toolTimeoutS: z.number().int().min(1).max(3600).default(DEFAULT_TOOL_TIMEOUT_S),
  /** Overrides the engine's `tokenBudget` downwards only. */
  tokenBudget: z.number().int().positive().optional(),
});
export type CageRunRequest = z.output<typeof CageRunRequestSchema>;
export type CageRunRequestInput = z.input<typeof CageRunRequestSchema>;

// ----- the `agent.run` worker: events and the stored log ---------------------------------------

/** The model of a run that names none (`RunAgentSchema.model` omitted). */
export const DEFAULT_AGENT_MODEL = 'llama3.2';

/** One line of an agent run's live log, as the UI receives it (a stored `agent_run_logs` row too). */
export const AgentLogEventSchema = z.object({
  type: z.literal('agent.log'),
  orgId: z.string(),
  runId: z.string(),
  seq: z.number().int().positive(),
  stream: CageLogStreamSchema,
  text: z.string(),
  ts: z.number().int(),
});
export type AgentLogEvent = z.infer<typeof AgentLogEventSchema>;

/** An agent run changed status: `running` when its cage starts, then how it ended. */
export const AgentStatusEventSchema = z.object({
  type: z.literal('agent.status'),
  orgId: z.string(),
  runId: z.string(),
  status: AgentRunStatusSchema,
  /** Why a run that did not succeed ended; null otherwise. */
  error: z.string().nullable(),
  ts: z.number().int(),
});
export type AgentStatusEvent = z.infer<typeof AgentStatusEventSchema>;

/** One stored line of a run's log, for replay (`agent_run_logs`). */
export const AgentLogLineSchema = AgentLogEventSchema.omit({ type: true, orgId: true });
export type AgentLogLine = z.infer<typeof AgentLogLineSchema>;

/** `GET /api/v1/agents/runs/:id/logs`: a run's stored log in order, after `afterSeq` (replay, paging). */
export const RunLogQuerySchema = z
  .object({
    id: z.string().min(1).max(200),
    afterSeq: numberFromText(z.number().int().min(0).default(0)),
    limit: numberFromText(z.number().int().min(1).max(5000).default(1000)),
  })
  .strict();

export const RunLogPageSchema = z.object({
  items: z.array(AgentLogLineSchema),
  /** Pass back as `afterSeq`; null when the page reached the end of what is stored. */
  nextSeq: z.number().int().nullable(),
});
export type RunLogPage = z.infer<typeof RunLogPageSchema>;
