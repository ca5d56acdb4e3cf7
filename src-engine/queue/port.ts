import type {
  AddResult,
  DeadLetter,
  DeadLetterPage,
  DeadLetterQuery,
  JobCounts,
  JobInfo,
  JobOptions,
  Schedule,
  ScheduleInput,
  WorkerOptions,
} from '../contracts/queue.ts';
import type { JobEvent } from '../contracts/events.ts';
import type { EventBus } from '../events.ts';

/** What a handler gets for one attempt of one job. */
export interface ActiveJob<T = unknown> {
  readonly id: string;
  readonly queue: string;
  readonly data: T;
  /** 1-based number of this attempt. */
  readonly attempt: number;
  readonly attempts: number;
  /** Aborted when the attempt times out or the worker is closing: stop work and return or throw. */
  readonly signal: AbortSignal;
  progress(value: unknown): Promise<void>;
}

/**
 * A handler resolves (the job completes with the value as result) or throws: an ordinary error
 * spends an attempt; `RetryLaterError` postpones without spending one; `UnrecoverableError`
 * fails the job for good (straight to the dead-letter store).
 */
export type JobHandler<T = unknown> = (job: ActiveJob<T>) => Promise<unknown>;

export interface Worker {
  readonly queue: string;
  /** Stops taking jobs; waits up to `graceMs` for active ones, then puts the rest back to waiting. */
  close(graceMs?: number): Promise<void>;
}

export interface BulkItem {
  queue: string;
  data: unknown;
  opts?: JobOptions;
}

export interface DeadLetterStore {
  list(query?: DeadLetterQuery): Promise<DeadLetterPage>;
  get(id: string): Promise<DeadLetter | null>;
  /** Re-enqueues the payload as a new job with a fresh attempt series. */
  retry(id: string): Promise<AddResult>;
  resolve(id: string): Promise<DeadLetter>;
}

/** The queue every engine worker runs on; `sqlite` (embedded) and `bullmq` (Redis) implement it. */
export interface JobQueue {
  readonly backend: 'sqlite' | 'bullmq';
  readonly events: EventBus<JobEvent>;
  readonly deadLetters: DeadLetterStore;
  add(queue: string, data: unknown, opts?: JobOptions): Promise<AddResult>;
  addBulk(items: BulkItem[]): Promise<AddResult[]>;
  /**
   * Embedded backend only (jobs in the engine's own SQLite file): adds a job inside the caller's open
   * transaction, so the job and the rows that describe it commit or roll back together. Call
   * `announce` after the commit (it emits `job.queued` and wakes workers).
   */
  addInTransaction?(queue: string, data: unknown, opts?: JobOptions): { result: AddResult; announce(): void };
  process<T = unknown>(queue: string, handler: JobHandler<T>, opts?: WorkerOptions): Worker;
  getJob(queue: string, id: string): Promise<JobInfo | null>;
  counts(queue: string): Promise<JobCounts>;
  pause(queue: string): Promise<void>;
  resume(queue: string): Promise<void>;
  /** Creates or updates a repeatable schedule; safe to call at every start-up. */
  schedule(queue: string, schedule: ScheduleInput): Promise<Schedule>;
  unschedule(queue: string, key: string): Promise<boolean>;
  schedules(queue?: string): Promise<Schedule[]>;
  /** A cheap round trip to the backing store, for health checks. */
  ping(): Promise<void>;
  /** Closes workers (see Worker.close) and the backend's connections. */
  close(graceMs?: number): Promise<void>;
}
