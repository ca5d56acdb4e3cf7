import { z } from 'zod';

/** The engine's own queues; other names are allowed (tests, integrations) if they match the pattern. */
export const ENGINE_QUEUES = [
  'whatsapp.send',
  'agent.run',
  'ai.reply',
  'billing.sync',
  'compliance.check',
  'smartsend.tick',
] as const;

const DAY_MS = 86_400_000;

// Lower-case words joined by dots or dashes: safe as a BullMQ prefix part (no ':') and in a URL.
export const QueueNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-z0-9]*(?:[.-][a-z0-9]+)*$/, 'lower-case words joined by "." or "-", e.g. "whatsapp.send"');

export const PRIORITY = { high: 1, normal: 5, low: 10 } as const;

export const BackoffSchema = z
  .object({
    type: z.enum(['exponential', 'fixed']),
    delay: z.number().int().min(0).max(DAY_MS),
    /** 0..1: the share of each delay that is randomised downwards (as BullMQ's `jitter`). */
    jitter: z.number().min(0).max(1).default(0),
  })
  .strict();
export type Backoff = z.infer<typeof BackoffSchema>;

export const DEFAULT_BACKOFF: Backoff = { type: 'exponential', delay: 2000, jitter: 0 };

/**
 * Suffixes BullMQ uses for a queue's own keys (`<prefix>:<queue>:<suffix>`): a job id equal to one
 * would address that key instead of a job, so both backends refuse them alike.
 */
const RESERVED_JOB_IDS = new Set([
  'active',
  'wait',
  'waiting-children',
  'paused',
  'id',
  'delayed',
  'prioritized',
  'stalled-check',
  'completed',
  'failed',
  'stalled',
  'repeat',
  'limiter',
  'meta',
  'events',
  'pc',
  'marker',
  'de',
  'metrics',
]);

/** The longest job id (idempotency key) a job may have. */
export const MAX_JOB_ID = 200;

export const JobOptionsSchema = z
  .object({
    /**
     * Idempotency key: a second add with the same key in the same queue returns the first job,
     * forever (the key outlives the job). Not all digits, so it never collides with generated ids.
     */
    jobId: z
      .string()
      .min(1)
      .max(MAX_JOB_ID)
      .regex(/^(?!\d+$)[^:\s]+$/, 'no spaces or ":", and not only digits')
      .refine(
        (id) => !RESERVED_JOB_IDS.has(id),
        'reserved word (a name the bullmq backend uses for its own keys)',
      ),
    delay: z
      .number()
      .int()
      .min(0)
      .max(365 * DAY_MS),
    /** 1 is the most urgent; jobs of equal priority run in the order they were added. */
    priority: z.number().int().min(1).max(2_097_151),
    attempts: z.number().int().min(1).max(100),
    backoff: BackoffSchema,
    /** How long one attempt may run before it counts as failed. */
    timeoutMs: z.number().int().min(1).max(DAY_MS),
  })
  .partial()
  .strict();
export type JobOptions = z.input<typeof JobOptionsSchema>;

export const JOB_DEFAULTS = { priority: PRIORITY.normal, attempts: 3, backoff: DEFAULT_BACKOFF } as const;

export const WorkerOptionsSchema = z
  .object({
    concurrency: z.number().int().min(1).max(256).default(1),
    /** Attempt timeout for jobs that do not set their own. */
    timeoutMs: z
      .number()
      .int()
      .min(1)
      .max(DAY_MS)
      .default(5 * 60_000),
  })
  .strict();
export type WorkerOptions = z.input<typeof WorkerOptionsSchema>;

export const JobStateSchema = z.enum(['waiting', 'delayed', 'active', 'completed', 'failed']);
export type JobState = z.infer<typeof JobStateSchema>;

export const JobInfoSchema = z.object({
  id: z.string(),
  queue: z.string(),
  data: z.unknown(),
  state: JobStateSchema,
  priority: z.number().int(),
  attemptsMade: z.number().int(),
  attempts: z.number().int(),
  progress: z.unknown().optional(),
  result: z.unknown().optional(),
  error: z.string().optional(),
  createdAt: z.number().int(),
  /** When a waiting/delayed job becomes runnable. */
  runAt: z.number().int().optional(),
  finishedAt: z.number().int().optional(),
});
export type JobInfo = z.infer<typeof JobInfoSchema>;

export const AddResultSchema = z.object({
  id: z.string(),
  queue: z.string(),
  /** true when the idempotency key was seen before and no new job was made. */
  deduplicated: z.boolean(),
});
export type AddResult = z.infer<typeof AddResultSchema>;

export const JobCountsSchema = z.object({
  waiting: z.number().int(),
  delayed: z.number().int(),
  active: z.number().int(),
  completed: z.number().int(),
  failed: z.number().int(),
  paused: z.boolean(),
});
export type JobCounts = z.infer<typeof JobCountsSchema>;

export const ScheduleSchema = z
  .object({
    /** Stable name: adding the same key again updates the schedule, never duplicates it. */
    key: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[^:\s]+$/, 'no spaces or ":"'),
    /** Five- or six-field cron expression, e.g. "0 0 1 * *" for the monthly cycle. */
    cron: z.string().min(1).max(120),
    tz: z.string().min(1).max(64).default('UTC'),
    data: z.unknown().optional(),
  })
  .strict();
export type ScheduleInput = z.input<typeof ScheduleSchema>;
export type Schedule = z.output<typeof ScheduleSchema> & { queue: string; nextRunAt: number };

export const DeadLetterSchema = z.object({
  id: z.string(),
  queue: z.string(),
  jobId: z.string(),
  payload: z.unknown(),
  /** The last error's text (English, technical). */
  error: z.string(),
  /**
   * The same as a code, when it had one, for a client to say in its user's language: `<service>.<kind>`
   * for a failed call to a service (`evolution.timeout`, `evolution.not_on_whatsapp`, ...),
   * `whatsapp.unconfirmed`, `job.timeout`, `job.stalled`, or an engine error code (`INSUFFICIENT_CREDITS`, ...).
   */
  errorCode: z.string().optional(),
  attempts: z.number().int(),
  failedAt: z.number().int(),
  resolved: z.boolean(),
  resolvedAt: z.number().int().optional(),
  /** Ids of the jobs made by retrying this dead letter, oldest first. */
  retriedAs: z.array(z.string()),
});
export type DeadLetter = z.infer<typeof DeadLetterSchema>;

export const DeadLetterQuerySchema = z
  .object({
    queue: QueueNameSchema.optional(),
    resolved: z.boolean().optional(),
    /** Only the dead letters of this org (engine jobs carry `orgId` in their payload). */
    orgId: z.string().min(1).max(200).optional(),
    limit: z.number().int().min(1).max(500).default(50),
    /** Opaque cursor from the previous page's `nextCursor`. */
    cursor: z.string().max(100).optional(),
  })
  .strict();
export type DeadLetterQuery = z.input<typeof DeadLetterQuerySchema>;
export type DeadLetterPage = { items: DeadLetter[]; nextCursor?: string };
