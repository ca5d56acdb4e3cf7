import {
  JOB_DEFAULTS,
  JobOptionsSchema,
  QueueNameSchema,
  WorkerOptionsSchema,
  type Backoff,
  type JobOptions,
  type WorkerOptions,
} from '../contracts/queue.ts';
import { AppError, parseOrThrow } from '../errors.ts';
import type { BulkItem, JobHandler } from './port.ts';
import { payloadOrg } from './job-org.ts';

/** Largest JSON payload a job may carry; bigger data belongs in the database, referenced by id. */
export const MAX_PAYLOAD_BYTES = 512 * 1024;

export interface NormalizedAdd {
  queue: string;
  /** The payload as JSON text, already checked for size and serialisability. */
  json: string;
  jobId?: string;
  /** The org the payload names (`data.orgId`), for the job's events. */
  orgId?: string;
  delay: number;
  priority: number;
  attempts: number;
  backoff: Backoff;
  timeoutMs?: number;
}

export function validateQueueName(queue: unknown): string {
  return parseOrThrow(QueueNameSchema, queue, 'queue name');
}

export function serializePayload(data: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (err) {
    throw new AppError(
      'VALIDATION_ERROR',
      `Invalid job payload: not serialisable as JSON (${(err as Error).message})`,
    );
  }
  if (json === undefined) throw new AppError('VALIDATION_ERROR', 'Invalid job payload: must be a JSON value');
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_PAYLOAD_BYTES) {
    throw new AppError(
      'VALIDATION_ERROR',
      `Invalid job payload: ${bytes} bytes, more than ${MAX_PAYLOAD_BYTES}`,
    );
  }
  return json;
}

/** Checks one add() call completely, before anything is written. */
export function normalizeAdd(queue: unknown, data: unknown, opts: JobOptions | undefined): NormalizedAdd {
  const name = validateQueueName(queue);
  const o = parseOrThrow(JobOptionsSchema, opts ?? {}, 'job options');
  const json = serializePayload(data);
  return {
    queue: name,
    json,
    jobId: o.jobId,
    ...payloadOrg(data),
    delay: o.delay ?? 0,
    priority: o.priority ?? JOB_DEFAULTS.priority,
    attempts: o.attempts ?? JOB_DEFAULTS.attempts,
    backoff: o.backoff ?? JOB_DEFAULTS.backoff,
    timeoutMs: o.timeoutMs,
  };
}

/** Checks every item of an addBulk() call; the error names the first bad item. */
export function normalizeBulk(items: BulkItem[]): NormalizedAdd[] {
  if (!Array.isArray(items)) throw new AppError('VALIDATION_ERROR', 'addBulk expects an array');
  return items.map((it, i) => {
    try {
      return normalizeAdd(it?.queue, it?.data, it?.opts);
    } catch (err) {
      if (err instanceof AppError) throw new AppError(err.code, `item ${i}: ${err.message}`, err.details);
      throw err;
    }
  });
}

/** Checks a process() call before a worker is made. */
export function validateProcess(
  queue: unknown,
  handler: unknown,
  options: WorkerOptions | undefined,
): { queue: string; handler: JobHandler<unknown>; concurrency: number; timeoutMs: number } {
  const name = validateQueueName(queue);
  if (typeof handler !== 'function')
    throw new AppError('VALIDATION_ERROR', 'process() needs a handler function');
  const o = parseOrThrow(WorkerOptionsSchema, options ?? {}, 'worker options');
  return { queue: name, handler: handler as JobHandler<unknown>, ...o };
}

/**
 * Delay before the next attempt after `attemptsMade` failures, as BullMQ computes it:
 * fixed = delay; exponential = delay * 2^(attemptsMade-1); jitter randomises that share downwards.
 */
export function backoffDelay(
  backoff: Backoff,
  attemptsMade: number,
  random: () => number = Math.random,
): number {
  const raw = backoff.type === 'fixed' ? backoff.delay : Math.round(2 ** (attemptsMade - 1) * backoff.delay);
  if (!backoff.jitter) return raw;
  const min = raw * (1 - backoff.jitter);
  return Math.floor(min + random() * (raw - min));
}
