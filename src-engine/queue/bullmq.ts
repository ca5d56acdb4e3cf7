import {
  DelayedError,
  Queue,
  UnrecoverableError as BullUnrecoverableError,
  WaitingError,
  Worker as BullWorker,
  type Job,
  type JobProgress,
  type JobSchedulerJson,
  type JobsOptions,
} from 'bullmq';
import { isDeepStrictEqual } from 'node:util';
import { Redis } from 'ioredis';
import {
  BackoffSchema,
  DEFAULT_BACKOFF,
  DeadLetterQuerySchema,
  JOB_DEFAULTS,
  ScheduleSchema,
  type AddResult,
  type DeadLetter,
  type JobCounts,
  type JobInfo,
  type Schedule,
} from '../contracts/queue.ts';
import type { JobEvent } from '../contracts/events.ts';
import { AppError, parseOrThrow } from '../errors.ts';
import { within } from '../within.ts';
import { MAX_STALLS, STALLED } from './errors.ts';
import { createEventBus } from '../events.ts';
import { runAttempt, storableResult } from './attempt.ts';
import { nextCronRun } from './cron.ts';
import type { BulkItem, DeadLetterStore, JobHandler, JobQueue, Worker } from './port.ts';
import {
  backoffDelay,
  normalizeAdd,
  serializePayload,
  normalizeBulk,
  validateProcess,
  validateQueueName,
  type NormalizedAdd,
} from './validate.ts';
import { retryDeadLetter } from './dead-letter-retry.ts';
import { payloadOrg } from './job-org.ts';

export interface QueueLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface BullmqQueueOptions {
  url: string;
  /** Namespace of every key, BullMQ's and ours; engines that share a queue use the same one. */
  prefix?: string;
  log?: QueueLog;
  /** Clock for event timestamps and dead-letter times; BullMQ keeps its own (Date.now) for scheduling. */
  now?: () => number;
  stalled?: { lockDurationMs?: number; stalledIntervalMs?: number };
}

/**
 * What we store as BullMQ job data: the payload plus the options BullMQ has no field for. Jobs
 * put in by other tools may lack it, hence the `?.` wherever it is read.
 */
interface Envelope {
  payload: unknown;
  timeoutMs?: number;
}

const silent: QueueLog = { info() {}, warn() {}, error() {} };

/**
 * Finished jobs kept per queue for getJob(); older ones are trimmed by BullMQ as new ones finish.
 * Failed payloads also live on in the dead-letter store, and idempotency keys outlive the jobs.
 */
const KEEP_FINISHED = { count: 10_000 };
/** A pending idempotency claim expires after this, so a producer that died mid-add blocks no one for long. */
const CLAIM_TTL_MS = 5_000;
const CLAIM_POLL_MS = 25;
const PING_TIMEOUT_MS = 2_000;
const CLOSE_GRACE_MS = 10_000;
/** How long a worker's close may take after the grace period before we stop waiting for it. */
const CLOSE_STUCK_MS = 1_000;
const PENDING = 'pending';
const ADDED = 'added';

/** The Redis key that remembers an idempotency key of `queue` forever (exported for crash tests). */
export function idempotencyKey(prefix: string, queue: string, jobId: string): string {
  return `${prefix}:_idem:${queue}:${jobId}`;
}

/**
 * Files a dead letter unless this job's attempt series already has one (then returns that id).
 * KEYS: series -> id map, id counter, then the indexes it joins; ARGV: hash key prefix, fields.
 */
const RECORD_DEAD_LETTER = `
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
local id = tostring(redis.call('INCR', KEYS[2]))
redis.call('SET', KEYS[1], id)
redis.call('HSET', ARGV[1] .. id, 'queue', ARGV[2], 'jobId', ARGV[3], 'payload', ARGV[4], 'error', ARGV[5],
  'attempts', ARGV[6], 'failedAt', ARGV[7], 'resolved', '0', 'errorCode', ARGV[8])
for i = 3, #KEYS do redis.call('ZADD', KEYS[i], id, id) end
return id`;

/** Marks a dead letter resolved (once) and moves it from the open indexes to the resolved ones. */
const RESOLVE_DEAD_LETTER = `
if redis.call('HGET', KEYS[1], 'resolved') == '0' then
  redis.call('HSET', KEYS[1], 'resolved', '1', 'resolvedAt', ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('ZADD', KEYS[4], ARGV[1], ARGV[1])
  redis.call('ZADD', KEYS[5], ARGV[1], ARGV[1])
end
return 1`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A job a worker is running: for a failed attempt, the retry we announce or the failure's code. */
interface RunningJob {
  started: number;
  retry?: { ts: number; runAt: number };
  errorCode?: string;
}

/** Waits for `p` at most `ms` ms; false if it has not settled by then (it keeps running). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(resolve, ms, false)));
  try {
    return await Promise.race([p.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * How long a caller that waits for the answer (the API, the CLI, the desktop) waits for Redis. ioredis
 * holds a command while it reconnects, i.e. for as long as Redis is away; such a caller gets
 * UNAVAILABLE instead. The command may still run once Redis is back: these are reads, and the two
 * dead-letter changes, which are idempotent.
 */
export const REDIS_ANSWER_MS = 5_000;

/** The scale-out queue: BullMQ on Redis/Valkey, so several engines on several machines share the work. */
export function createBullmqQueue(opts: BullmqQueueOptions): JobQueue {
  const prefix = opts.prefix ?? 'agencia';
  const log = opts.log ?? silent;
  const now = opts.now ?? Date.now;
  const events = createEventBus<JobEvent>((err) => log.error({ err }, 'queue event listener failed'));
  // One connection for every Queue, every worker's commands and our own keys; each BullMQ worker
  // adds its own blocking connection. BullMQ requires maxRetriesPerRequest null for workers.
  const client = new Redis(opts.url, { maxRetriesPerRequest: null });
  client.on('error', (err) => log.warn({ err }, 'redis connection error'));
  /** `work` for a caller waiting on it: UNAVAILABLE after REDIS_ANSWER_MS rather than never. */
  const answered = <T>(what: string, work: () => Promise<T>): Promise<T> =>
    within(
      work(),
      REDIS_ANSWER_MS,
      () =>
        new AppError(
          'UNAVAILABLE',
          `The queue's Redis did not answer within ${REDIS_ANSWER_MS / 1000} s (connection ${client.status}): ${what} cannot be done now`,
        ),
    );
  const queues = new Map<string, Queue<Envelope>>();
  const workers = new Set<BullmqWorker>();
  // Our own keys live under "<prefix>:_...": a queue name never starts with "_", so they never
  // collide with BullMQ's "<prefix>:<queue>:..." keys.
  const keys = {
    deadLetter: (id: string) => `${prefix}:_dl:${id}`,
    retriedAs: (id: string) => `${prefix}:_dl:${id}:retried`,
    deadLetterSeq: `${prefix}:_dl:seq`,
    // A job id alone may come back (generated ids restart after an obliterate); with its creation
    // time it names one attempt series, so re-running a final attempt never files a second letter.
    deadLetterOfJob: (queue: string, jobId: string, series: number) =>
      `${prefix}:_dl:job:${queue}:${jobId}:${series}`,
    index: (queue: string | undefined, state: 'any' | 'open' | 'resolved') =>
      `${prefix}:_dl:ix:${queue === undefined ? 'all' : `q:${queue}`}:${state}`,
    scheduledQueues: `${prefix}:_sched:queues`,
  };

  function queueFor(name: string): Queue<Envelope> {
    let q = queues.get(name);
    if (!q) {
      q = new Queue<Envelope>(name, { connection: client, prefix });
      q.on('error', (err) => log.warn({ err, queue: name }, 'bullmq queue error'));
      queues.set(name, q);
    }
    return q;
  }

  function jobOptions(n: NormalizedAdd): JobsOptions {
    return {
      priority: n.priority,
      attempts: n.attempts,
      backoff: { type: n.backoff.type, delay: n.backoff.delay, jitter: n.backoff.jitter },
      delay: n.delay,
      removeOnComplete: KEEP_FINISHED,
      removeOnFail: KEEP_FINISHED,
      ...(n.jobId ? { jobId: n.jobId } : {}),
    };
  }

  function envelope(n: NormalizedAdd): Envelope {
    const payload: unknown = JSON.parse(n.json);
    return n.timeoutMs === undefined ? { payload } : { payload, timeoutMs: n.timeoutMs };
  }

  function queued(n: NormalizedAdd, id: string, at: number): AddResult {
    events.emit({
      type: 'job.queued',
      queue: n.queue,
      jobId: id,
      orgId: n.orgId,
      ts: at,
      runAt: at + n.delay,
    });
    return { id, queue: n.queue, deduplicated: false };
  }

  /**
   * Adds a job under an idempotency key. The key is claimed with SET NX (a short-lived "pending"
   * marker), the job is added with the key as its BullMQ id, then the marker becomes permanent.
   * If a producer dies in between, its claim expires and the next add finishes the work: it adds
   * the job unless it exists already (then it only makes the marker permanent).
   */
  async function addWithKey(n: NormalizedAdd & { jobId: string }): Promise<AddResult> {
    const q = queueFor(n.queue);
    const key = idempotencyKey(prefix, n.queue, n.jobId);
    const giveUpAt = Date.now() + 2 * CLAIM_TTL_MS;
    for (;;) {
      const replies = await client
        .multi()
        .set(key, PENDING, 'PX', CLAIM_TTL_MS, 'NX')
        .exists(q.toKey(n.jobId))
        .exec();
      const claimed = replies?.[0]?.[1] === 'OK';
      if (claimed) {
        const existed = replies?.[1]?.[1] === 1;
        const at = now();
        try {
          if (!existed) await q.add(n.queue, envelope(n), jobOptions(n));
        } catch (err) {
          // Release the claim so a retry need not wait for it to expire; if the add did land,
          // the retry finds the job and only marks the key.
          await client.del(key).catch(() => {});
          throw err;
        }
        await client.set(key, ADDED);
        if (!existed) return queued(n, n.jobId, at);
        log.info(
          { queue: n.queue, jobId: n.jobId },
          'idempotency key completed for a job added before a crash',
        );
        return { id: n.jobId, queue: n.queue, deduplicated: true };
      }
      const state = await client.get(key);
      if (state === ADDED) return { id: n.jobId, queue: n.queue, deduplicated: true };
      // state null: the other claim just expired; try to claim again. Otherwise another add of
      // the same key is in flight: wait for it rather than race it.
      if (state !== null) {
        if (Date.now() > giveUpAt) {
          throw new Error(`idempotency key "${n.jobId}" stayed pending in ${n.queue}`);
        }
        await sleep(CLAIM_POLL_MS);
      }
    }
  }

  async function addMany(items: NormalizedAdd[]): Promise<AddResult[]> {
    const results: AddResult[] = new Array<AddResult>(items.length);
    // Jobs without a key go in one BullMQ addBulk (one MULTI) per queue; keyed ones one by one,
    // in order, so a key repeated within the batch is deduplicated against its first use.
    const plain = new Map<string, number[]>();
    items.forEach((n, i) => {
      if (!n.jobId) plain.set(n.queue, [...(plain.get(n.queue) ?? []), i]);
    });
    for (const [name, idx] of plain) {
      const at = now();
      const jobs = await queueFor(name).addBulk(
        idx.map((i) => ({ name, data: envelope(items[i]!), opts: jobOptions(items[i]!) })),
      );
      jobs.forEach((job, k) => (results[idx[k]!] = queued(items[idx[k]!]!, job.id!, at)));
    }
    for (const [i, n] of items.entries()) {
      if (n.jobId) results[i] = await addWithKey({ ...n, jobId: n.jobId });
    }
    return results;
  }

  // ---- dead letters -------------------------------------------------------------------------

  /** Files the dead letter of one job's attempt series exactly once; returns its id either way. */
  async function recordDeadLetter(
    queue: string,
    job: Job<Envelope>,
    attempts: number,
    error: string,
    code: string | undefined,
  ): Promise<string> {
    const id = await client.eval(
      RECORD_DEAD_LETTER,
      6,
      keys.deadLetterOfJob(queue, job.id!, job.timestamp),
      keys.deadLetterSeq,
      keys.index(undefined, 'any'),
      keys.index(undefined, 'open'),
      keys.index(queue, 'any'),
      keys.index(queue, 'open'),
      keys.deadLetter(''),
      queue,
      job.id!,
      JSON.stringify(job.data?.payload ?? null),
      error,
      attempts,
      now(),
      code ?? '',
    );
    return String(id);
  }

  async function readDeadLetter(id: string): Promise<DeadLetter | null> {
    if (!/^\d{1,15}$/.test(id)) return null;
    const [hash, retried] = await Promise.all([
      client.hgetall(keys.deadLetter(id)),
      client.lrange(keys.retriedAs(id), 0, -1),
    ]);
    if (!hash.queue) return null;
    const d: DeadLetter = {
      id,
      queue: hash.queue,
      jobId: hash.jobId ?? '',
      payload: JSON.parse(hash.payload ?? 'null') as unknown,
      error: hash.error ?? '',
      attempts: Number(hash.attempts),
      failedAt: Number(hash.failedAt),
      resolved: hash.resolved === '1',
      retriedAs: retried,
    };
    if (hash.errorCode) d.errorCode = hash.errorCode;
    if (hash.resolvedAt) d.resolvedAt = Number(hash.resolvedAt);
    return d;
  }

  async function mustReadDeadLetter(id: unknown): Promise<DeadLetter> {
    const d = typeof id === 'string' ? await readDeadLetter(id) : null;
    if (!d) throw new AppError('NOT_FOUND', `No dead letter ${JSON.stringify(id)}`);
    return d;
  }

  const deadLetters: DeadLetterStore = {
    async list(query) {
      const q = parseOrThrow(DeadLetterQuerySchema, query ?? {}, 'dead-letter query');
      if (q.cursor && !/^\d{1,15}$/.test(q.cursor)) {
        throw new AppError('VALIDATION_ERROR', 'Invalid dead-letter cursor');
      }
      const state = q.resolved === undefined ? 'any' : q.resolved ? 'resolved' : 'open';
      const ofOrg = (d: DeadLetter | null): d is DeadLetter =>
        d !== null && (q.orgId === undefined || (d.payload as { orgId?: unknown })?.orgId === q.orgId);
      // Ids grow with every dead letter, so the id is both the order and an exact keyset cursor.
      // An org filter reads on in chunks until the page is full (one desktop rarely has many orgs).
      return answered('listing dead letters', async () => {
        const found: DeadLetter[] = [];
        let from = q.cursor ? `(${q.cursor}` : '+inf';
        for (;;) {
          const chunk = q.orgId === undefined ? q.limit + 1 : 200;
          const ids = await client.zrevrangebyscore(
            keys.index(q.queue, state),
            from,
            '-inf',
            'LIMIT',
            0,
            chunk,
          );
          found.push(...(await Promise.all(ids.map(readDeadLetter))).filter(ofOrg));
          if (found.length > q.limit || ids.length < chunk) break;
          from = `(${ids[ids.length - 1]!}`;
        }
        const items = found.slice(0, q.limit);
        return found.length > q.limit ? { items, nextCursor: items[items.length - 1]!.id } : { items };
      });
    },
    async get(id) {
      return typeof id === 'string' ? answered('reading a dead letter', () => readDeadLetter(id)) : null;
    },
    retry: (id) =>
      answered('retrying a dead letter', async () =>
        retryDeadLetter(await mustReadDeadLetter(id), {
          unfinished: async (queue, jobId) => {
            const state = await (await queueFor(queue).getJob(jobId))?.getState();
            return state !== undefined && !['completed', 'failed', 'unknown'].includes(state);
          },
          add: async (job) => (await addMany([job]))[0]!,
          recordRetry: async (deadLetterId, jobId) =>
            void (await client.rpush(keys.retriedAs(deadLetterId), jobId)),
        }),
      ),
    resolve: (id) =>
      answered('resolving a dead letter', async () => {
        const d = await mustReadDeadLetter(id);
        await client.eval(
          RESOLVE_DEAD_LETTER,
          5,
          keys.deadLetter(d.id),
          keys.index(undefined, 'open'),
          keys.index(d.queue, 'open'),
          keys.index(undefined, 'resolved'),
          keys.index(d.queue, 'resolved'),
          d.id,
          now(),
        );
        return mustReadDeadLetter(d.id);
      }),
  };

  // ---- workers --------------------------------------------------------------------------------

  class BullmqWorker implements Worker {
    private readonly worker: BullWorker<Envelope>;
    /** Aborts the handlers' signals once the worker is closing and the grace period is over. */
    private readonly stop = new AbortController();
    private giveUp!: () => void;
    /** Resolves when close() stops waiting for active attempts. */
    private readonly gaveUp = new Promise<'gave-up'>((resolve) => (this.giveUp = () => resolve('gave-up')));
    /** Per job being run (its dead letter is written again, with the code, after BullMQ moved it). */
    private readonly running = new Map<string, RunningJob>();
    private closing: Promise<void> | undefined;

    constructor(
      readonly queue: string,
      private readonly handler: JobHandler<unknown>,
      private readonly timeoutMs: number,
      concurrency: number,
    ) {
      this.worker = new BullWorker<Envelope>(queue, (job, token) => this.run(job, token), {
        connection: client,
        prefix,
        concurrency,
        maxStalledCount: MAX_STALLS,
        // Only when set: an explicit undefined would replace BullMQ's defaults.
        ...(opts.stalled?.lockDurationMs ? { lockDuration: opts.stalled.lockDurationMs } : {}),
        ...(opts.stalled?.stalledIntervalMs ? { stalledInterval: opts.stalled.stalledIntervalMs } : {}),
      });
      this.worker.on('error', (err) => log.warn({ err, queue }, 'bullmq worker error'));
      this.worker.on('completed', (job) => this.onCompleted(job));
      this.worker.on('failed', (job, err) => {
        if (!job) return;
        this.onFailed(job, err).catch((e: unknown) =>
          log.error({ err: e, queue, jobId: job.id }, 'could not settle a failed job'),
        );
      });
      this.worker.on('stalled', (jobId) => {
        this.onStalled(jobId).catch((err: unknown) =>
          log.warn({ err, queue, jobId }, 'could not report a stalled job'),
        );
      });
    }

    private async run(job: Job<Envelope>, token: string | undefined): Promise<unknown> {
      const id = job.id!;
      const attempt = job.attemptsMade + 1;
      const attempts = job.opts.attempts ?? 1;
      const started = now();
      const base = this.ref(job);
      const entry: RunningJob = { started };
      this.running.set(id, entry);
      if (job.repeatJobKey !== undefined && job.attemptsStarted <= 1) {
        // A schedule's tick is made inside Redis, where no engine sees it queued: the engine that
        // first takes it says so, as the embedded queue does when it queues a tick.
        const runAt = job.timestamp + (job.opts.delay ?? 0);
        events.emit({ type: 'job.queued', ...base, ts: job.timestamp, runAt });
      }
      events.emit({ type: 'job.active', ...base, ts: started, attempt });
      let over = false;
      const attemptRun = runAttempt(
        this.handler,
        {
          id,
          queue: this.queue,
          data: job.data?.payload,
          attempt,
          attempts,
          progress: async (value) => {
            if (over) return; // the attempt timed out or was handed back: its progress is stale
            const stored = storableResult(value);
            await job.updateProgress(stored as JobProgress);
            events.emit({ type: 'job.progress', ...base, ts: now(), progress: stored });
          },
        },
        job.data?.timeoutMs ?? this.timeoutMs,
        this.stop.signal,
      );
      const outcome = await Promise.race([attemptRun, this.gaveUp]);
      over = true;

      if (outcome === 'gave-up') {
        // The worker is closing and the grace period is over: hand the job back without spending
        // an attempt. If that fails, the lock runs out and stall detection hands it back instead.
        this.running.delete(id);
        try {
          await job.moveToWait(token);
          const ts = now();
          events.emit({
            type: 'job.retrying',
            ...base,
            ts,
            attempt,
            runAt: ts,
            attemptSpent: false,
            reason: 'worker closed',
          });
        } catch (err) {
          log.warn({ err, ...base }, 'could not hand an active job back; stall detection will');
        }
        throw new WaitingError();
      }
      if (outcome.kind === 'completed') return outcome.result;
      if (outcome.kind === 'later') {
        this.running.delete(id);
        const ts = now();
        await job.moveToDelayed(Date.now() + outcome.delayMs, token);
        events.emit({
          type: 'job.retrying',
          ...base,
          ts,
          attempt,
          runAt: ts + outcome.delayMs,
          attemptSpent: false,
          reason: outcome.reason,
        });
        throw new DelayedError();
      }
      if (outcome.unrecoverable || attempt >= attempts) {
        // Written before BullMQ moves the job, so a crash in between cannot lose it; onFailed
        // writes it again (a no-op) in case this write failed.
        entry.errorCode = outcome.code;
        await recordDeadLetter(this.queue, job, attempt, outcome.error, outcome.code).catch((err: unknown) =>
          log.warn({ err, ...base }, 'dead letter not written yet; retrying once the job has failed'),
        );
        throw outcome.unrecoverable ? new BullUnrecoverableError(outcome.error) : new Error(outcome.error);
      }
      const parsed = BackoffSchema.safeParse(job.opts.backoff);
      const delay = backoffDelay(parsed.success ? parsed.data : DEFAULT_BACKOFF, attempt);
      // BullMQ draws its own jitter; pin this retry to the delay we announce (in memory only).
      job.opts.backoff = { type: 'fixed', delay };
      const ts = now();
      entry.retry = { ts, runAt: ts + delay };
      throw new Error(outcome.error);
    }

    private onCompleted(job: Job<Envelope>): void {
      const id = job.id!;
      const at = now();
      const started = this.running.get(id)?.started ?? at;
      this.running.delete(id);
      // BullMQ counts the successful attempt in attemptsMade; ours counts spent (failed) ones.
      events.emit({
        type: 'job.completed',
        ...this.ref(job),
        ts: at,
        attempt: job.attemptsMade,
        durationMs: at - started,
      });
    }

    /** What names a job in its events: queue, id, and the org its payload names. */
    private ref(job: Job<Envelope>) {
      return { queue: this.queue, jobId: job.id!, ...payloadOrg(job.data?.payload) };
    }

    /** Runs after BullMQ has moved the job: to delayed/waiting for a retry, or to failed for good. */
    private async onFailed(job: Job<Envelope>, err: Error): Promise<void> {
      const id = job.id!;
      const { retry, errorCode = err.message === STALLED.error ? STALLED.code : undefined } =
        this.running.get(id) ?? {};
      this.running.delete(id);
      const attempt = job.attemptsMade;
      const base = this.ref(job);
      if (job.finishedOn) {
        const deadLetterId = await recordDeadLetter(this.queue, job, attempt, err.message, errorCode);
        const ts = now();
        events.emit({ type: 'job.failed', ...base, ts, attempt, error: err.message });
        events.emit({ type: 'job.dead', ...base, ts, deadLetterId, attempts: attempt, error: err.message });
        return;
      }
      const ts = retry?.ts ?? now();
      events.emit({ type: 'job.failed', ...base, ts, attempt, error: err.message });
      events.emit({
        type: 'job.retrying',
        ...base,
        ts,
        attempt,
        runAt: retry?.runAt ?? ts,
        attemptSpent: true,
        reason: err.message,
      });
    }

    /** BullMQ's stall check (in any engine's worker) put a job whose lock ran out back to waiting. */
    private async onStalled(jobId: string): Promise<void> {
      const job = await queueFor(this.queue).getJob(jobId);
      const ts = now();
      log.info({ queue: this.queue, jobId }, 'stalled job put back to waiting');
      events.emit({
        type: 'job.retrying',
        queue: this.queue,
        jobId,
        ...payloadOrg(job?.data?.payload),
        ts,
        attempt: (job?.attemptsMade ?? 0) + 1,
        runAt: ts,
        attemptSpent: false,
        reason: 'stalled: lock expired',
      });
    }

    close(graceMs = CLOSE_GRACE_MS): Promise<void> {
      this.closing ??= (async () => {
        workers.delete(this);
        // BullMQ's close stops fetching and waits for the running processors; past the grace
        // period our processors stop waiting for their handlers and hand the jobs back.
        const closed = this.worker.close();
        await settlesWithin(closed, graceMs);
        this.giveUp();
        this.stop.abort(new Error('worker closing'));
        // With Redis unreachable BullMQ's close never settles; shutdown must not hang on it. The
        // jobs it held stay locked until their locks expire, then stall detection takes them back.
        if (!(await settlesWithin(closed, CLOSE_STUCK_MS))) {
          log.warn({ queue: this.queue }, 'bullmq worker did not close (redis unreachable?); leaving it');
        }
      })();
      return this.closing;
    }
  }

  // ---- job info -----------------------------------------------------------------------------

  /** When a delayed job becomes runnable, from its score in BullMQ's delayed set (ms * 0x1000 + seq). */
  async function delayedUntil(q: Queue<Envelope>, id: string): Promise<number | undefined> {
    const score = await client.zscore(q.keys.delayed!, id);
    return score === null ? undefined : Math.floor(Number(score) / 0x1000);
  }

  async function toInfo(
    name: string,
    q: Queue<Envelope>,
    job: Job<Envelope>,
    rawProgress: string | null,
  ): Promise<JobInfo | null> {
    const bullState = await job.getState();
    let state: JobInfo['state'];
    switch (bullState) {
      case 'completed':
      case 'failed':
      case 'delayed':
      case 'active':
        state = bullState;
        break;
      case 'waiting':
      case 'prioritized':
      case 'waiting-children':
        state = 'waiting';
        break;
      default:
        return null; // removed while we looked
    }
    const info: JobInfo = {
      id: job.id!,
      queue: name,
      data: job.data?.payload,
      state,
      priority: job.priority,
      // BullMQ also counts the attempt that completed; ours counts only spent (failed) attempts.
      attemptsMade: state === 'completed' ? Math.max(0, job.attemptsMade - 1) : job.attemptsMade,
      attempts: job.opts.attempts ?? 1,
      createdAt: job.timestamp,
    };
    if (rawProgress !== null) info.progress = JSON.parse(rawProgress) as unknown;
    if (state === 'completed') info.result = job.returnvalue ?? null;
    if (job.failedReason) info.error = job.failedReason;
    if (state === 'waiting') info.runAt = job.timestamp + (job.opts.delay ?? 0);
    if (state === 'delayed') info.runAt = await delayedUntil(q, job.id!);
    if (job.finishedOn) info.finishedAt = job.finishedOn;
    return info;
  }

  // ---- schedules ----------------------------------------------------------------------------

  function toSchedule(queue: string, s: JobSchedulerJson<Envelope>): Schedule {
    return {
      queue,
      key: s.key,
      cron: s.pattern ?? '',
      tz: s.tz ?? 'UTC',
      data: s.template?.data?.payload ?? null,
      nextRunAt: s.next ?? 0,
    };
  }

  async function schedulesOf(name: string): Promise<Schedule[]> {
    const list = await queueFor(name).getJobSchedulers(0, -1, true);
    return list.map((s) => toSchedule(name, s)).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  function validateJobId(id: unknown): string {
    if (typeof id !== 'string' || id.length === 0 || id.length > 300) {
      throw new AppError('VALIDATION_ERROR', 'Invalid job id: expected a non-empty string');
    }
    return id;
  }

  let closed: Promise<void> | undefined;

  return {
    backend: 'bullmq',
    events,
    deadLetters,
    async add(queue, data, options) {
      const [result] = await addMany([normalizeAdd(queue, data, options)]);
      return result!;
    },
    async addBulk(items: BulkItem[]) {
      return addMany(normalizeBulk(items));
    },
    process(queue, handler, options) {
      const p = validateProcess(queue, handler, options);
      const w = new BullmqWorker(p.queue, p.handler, p.timeoutMs, p.concurrency);
      workers.add(w);
      return w;
    },
    async getJob(queue, id) {
      const name = validateQueueName(queue);
      const jobId = validateJobId(id);
      const q = queueFor(name);
      const [job, progress] = await answered('reading a job', () =>
        Promise.all([q.getJob(jobId), client.hget(q.toKey(jobId), 'progress')]),
      );
      // Every job we make is named after its queue; anything else at that key is not a job of ours.
      if (!job || job.name !== name) return null;
      return toInfo(name, q, job, progress);
    },
    async counts(queue) {
      const q = queueFor(validateQueueName(queue));
      const [c, paused] = await answered('counting jobs', () =>
        Promise.all([
          q.getJobCounts(
            'waiting',
            'prioritized',
            'waiting-children',
            'delayed',
            'active',
            'completed',
            'failed',
          ),
          q.isPaused(),
        ]),
      );
      const n = (k: string) => c[k] ?? 0;
      const counts: JobCounts = {
        waiting: n('waiting') + n('prioritized') + n('waiting-children'),
        delayed: n('delayed'),
        active: n('active'),
        completed: n('completed'),
        failed: n('failed'),
        paused,
      };
      return counts;
    },
    async pause(queue) {
      await queueFor(validateQueueName(queue)).pause();
    },
    async resume(queue) {
      await queueFor(validateQueueName(queue)).resume();
    },
    async schedule(queue, input) {
      const name = validateQueueName(queue);
      const s = parseOrThrow(ScheduleSchema, input, 'schedule');
      nextCronRun(s.cron, s.tz, Date.now()); // VALIDATION_ERROR for a bad expression or time zone
      const payload: unknown = JSON.parse(serializePayload(s.data ?? null));
      const q = queueFor(name);
      // The same schedule again (a restart, another engine) with its next tick still pending is left
      // as it is: an upsert would replace a tick that fell due while no engine ran with the next one,
      // and that tick would never run.
      const before = await q.getJobScheduler(s.key);
      const unchanged =
        before?.pattern === s.cron &&
        before.tz === s.tz &&
        isDeepStrictEqual(before.template?.data, { payload }) &&
        (await q.getJob(`repeat:${s.key}:${before.next}`)) !== undefined;
      // BullMQ keeps one scheduler per key: upserting the same key again updates it in place and never
      // adds a second timer.
      if (!unchanged)
        await q.upsertJobScheduler(
          s.key,
          { pattern: s.cron, tz: s.tz },
          {
            name,
            data: { payload },
            opts: {
              priority: JOB_DEFAULTS.priority,
              attempts: JOB_DEFAULTS.attempts,
              backoff: { ...JOB_DEFAULTS.backoff },
              removeOnComplete: KEEP_FINISHED,
              removeOnFail: KEEP_FINISHED,
            },
          },
        );
      await client.sadd(keys.scheduledQueues, name);
      const stored = await q.getJobScheduler(s.key);
      if (!stored) throw new Error(`schedule "${s.key}" vanished right after it was saved`);
      return toSchedule(name, stored);
    },
    async unschedule(queue, key) {
      const name = validateQueueName(queue);
      const k = parseOrThrow(ScheduleSchema.shape.key, key, 'schedule key');
      return queueFor(name).removeJobScheduler(k);
    },
    async schedules(queue) {
      if (queue !== undefined) return schedulesOf(validateQueueName(queue));
      const names = (await client.smembers(keys.scheduledQueues)).sort();
      return (await Promise.all(names.map(schedulesOf))).flat();
    },
    async ping() {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`redis did not answer PING within ${PING_TIMEOUT_MS} ms`)),
          PING_TIMEOUT_MS,
        );
      });
      try {
        await Promise.race([client.ping(), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    close(graceMs) {
      closed ??= (async () => {
        await Promise.all([...workers].map((w) => w.close(graceMs)));
        const rest = Promise.all([...queues.values()].map((q) => q.close())).then(() => client.quit());
        // QUIT waits behind commands queued while Redis is away; past the limit, drop the connection.
        if (!(await settlesWithin(rest, CLOSE_STUCK_MS))) {
          log.warn({}, 'redis connection did not close cleanly (redis unreachable?); dropping it');
          client.disconnect();
        }
      })();
      return closed;
    },
  };
}
