import { createHash, randomUUID } from 'node:crypto';
import {
  MAX_JOB_ID,
  DeadLetterQuerySchema,
  ScheduleSchema,
  type AddResult,
  type Backoff,
  type DeadLetter,
  type JobCounts,
  type JobInfo,
  type JobOptions,
  type Schedule,
  type ScheduleInput,
} from '../contracts/queue.ts';
import type { JobEvent } from '../contracts/events.ts';
import type { Sqlite } from '../db/connection.ts';
import { AppError, errorMessage, parseOrThrow } from '../errors.ts';
import { MAX_STALLS, STALLED } from './errors.ts';
import { createEventBus } from '../events.ts';
import { runAttempt, storableResult, type AttemptOutcome } from './attempt.ts';
import { nextCronRun } from './cron.ts';
import { orgOf } from './job-org.ts';
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

export interface SqliteQueueOptions {
  sqlite: Sqlite;
  now?: () => number;
  random?: () => number;
  log?: { warn(obj: object, msg?: string): void };
  /** How long a claimed job stays leased without a heartbeat before another worker may take it. */
  leaseMs?: number;
  /** Longest a worker sleeps before looking again (catches jobs added by other processes). */
  pollMs?: number;
  /**
   * The caller holds the data directory's lock, so any job still marked active was left by a dead
   * process: put it back to waiting at once instead of waiting for its lease to expire.
   */
  exclusive?: boolean;
}

interface JobRow {
  seq: number;
  queue: string;
  job_key: string | null;
  data: string;
  /** `data.orgId` (a virtual column): engine jobs name their org. */
  org_id: unknown;
  state: 'waiting' | 'active' | 'completed' | 'failed';
  priority: number;
  attempts_made: number;
  max_attempts: number;
  backoff: string;
  timeout_ms: number | null;
  run_at: number;
  progress: string | null;
  result: string | null;
  last_error: string | null;
  created_at: number;
  finished_at: number | null;
}

interface DeadLetterRow {
  id: number;
  queue: string;
  job_id: string;
  payload: string;
  error: string;
  error_code: string | null;
  attempts: number;
  failed_at: number;
  resolved: number;
  resolved_at: number | null;
  retried_as: string;
}

interface ScheduleRow {
  queue: string;
  key: string;
  cron: string;
  tz: string;
  data: string;
  next_run_at: number;
}

/** How long a job whose outcome could not be stored waits before it runs again. */
const SETTLE_RETRY_MS = 1_000;

const publicId = (row: { seq: number; job_key: string | null }) => row.job_key ?? String(row.seq);
/** What names a job in its events: queue, id, and the org its payload names (`jobs.org_id`). */
const jobRef = (row: { queue: string; seq: number; job_key: string | null; org_id: unknown }) => ({
  queue: row.queue,
  jobId: publicId(row),
  ...orgOf(row.org_id),
});
type StalledRow = {
  seq: number;
  queue: string;
  job_key: string | null;
  org_id: unknown;
  attempts_made: number;
  stalls: number;
  data: string;
};
const STALLED_COLUMNS = 'seq, queue, job_key, org_id, attempts_made, stalls, data';

const parseJson = (text: string | null): unknown => (text === null ? undefined : JSON.parse(text));

/** The embedded queue: jobs live in the engine's SQLite file, so they survive a crash and cost no RAM. */
export function createSqliteQueue(opts: SqliteQueueOptions): JobQueue {
  const { sqlite } = opts;
  const now = opts.now ?? Date.now;
  const random = opts.random ?? Math.random;
  const leaseMs = opts.leaseMs ?? 30_000;
  const pollMs = opts.pollMs ?? 1_000;
  const owner = randomUUID();
  const events = createEventBus<JobEvent>((err) => opts.log?.warn({ err }, 'queue event listener failed'));
  const workers = new Set<SqliteWorker>();
  let claimCounter = 0;
  let sweeper: NodeJS.Timeout | undefined;

  const st = {
    insert: sqlite.prepare<
      [string, string | null, string, number, number, string, number | null, number, number]
    >(
      `INSERT INTO jobs (queue, job_key, data, state, priority, max_attempts, backoff, timeout_ms, run_at, created_at)
       VALUES (?, ?, ?, 'waiting', ?, ?, ?, ?, ?, ?)`,
    ),
    getKey: sqlite.prepare<[string, string], { job_seq: number }>(
      `SELECT job_seq FROM job_keys WHERE queue = ? AND key = ?`,
    ),
    // The job just inserted, by last_insert_rowid() rather than a parameter: replaying the guard's
    // journal (db/journal.ts) then links the key to the job as replayed, whatever seq it got.
    insertKey: sqlite.prepare<[string, string]>(
      `INSERT INTO job_keys (queue, key, job_seq) VALUES (?, ?, last_insert_rowid()) ON CONFLICT DO NOTHING`,
    ),
    // The job just inserted, when its key turned out to be taken (an insert that did nothing leaves
    // last_insert_rowid() alone).
    dropInserted: sqlite.prepare(`DELETE FROM jobs WHERE seq = last_insert_rowid()`),
    bySeq: sqlite.prepare<[number, string], JobRow>(`SELECT * FROM jobs WHERE seq = ? AND queue = ?`),
    claim: sqlite.prepare<
      { queue: string; now: number; limit: number; token: string; leaseUntil: number },
      JobRow
    >(
      `UPDATE jobs SET state = 'active', lease_token = @token, lease_until = @leaseUntil, started_at = @now
       WHERE seq IN (SELECT seq FROM jobs WHERE queue = @queue AND state = 'waiting' AND run_at <= @now
                     ORDER BY priority, run_at, seq LIMIT @limit)
         AND NOT EXISTS (SELECT 1 FROM queue_state WHERE queue = @queue AND paused = 1)
       RETURNING *`,
    ),
    nextDue: sqlite.prepare<[string, string], { at: number | null }>(
      `SELECT min(at) AS at FROM (
         SELECT min(run_at) AS at FROM jobs WHERE queue = ? AND state = 'waiting'
         UNION ALL SELECT min(next_run_at) FROM schedules WHERE queue = ?)`,
    ),
    complete: sqlite.prepare<[string, number, number, string]>(
      `UPDATE jobs SET state = 'completed', result = ?, finished_at = ?, lease_token = NULL, lease_until = NULL
       WHERE seq = ? AND lease_token = ?`,
    ),
    requeue: sqlite.prepare<[number, number, string | null, number, string]>(
      `UPDATE jobs SET state = 'waiting', run_at = ?, attempts_made = ?, last_error = ?,
              lease_token = NULL, lease_until = NULL
       WHERE seq = ? AND lease_token = ?`,
    ),
    fail: sqlite.prepare<[number, string, number, number, string]>(
      `UPDATE jobs SET state = 'failed', attempts_made = ?, last_error = ?, finished_at = ?,
              lease_token = NULL, lease_until = NULL
       WHERE seq = ? AND lease_token = ?`,
    ),
    progress: sqlite.prepare<[string, number, string]>(
      `UPDATE jobs SET progress = ? WHERE seq = ? AND lease_token = ?`,
    ),
    heartbeat: sqlite.prepare<[number, string, string]>(
      `UPDATE jobs SET lease_until = ? WHERE state = 'active' AND lease_token >= ? AND lease_token < ?`,
    ),
    reclaim: sqlite.prepare<[number], StalledRow>(
      `UPDATE jobs SET state = 'waiting', lease_token = NULL, lease_until = NULL, stalls = stalls + 1
       WHERE state = 'active' AND lease_until < ? RETURNING ${STALLED_COLUMNS}`,
    ),
    orphans: sqlite.prepare<[], StalledRow>(
      `UPDATE jobs SET state = 'waiting', lease_token = NULL, lease_until = NULL, stalls = stalls + 1
       WHERE state = 'active' RETURNING ${STALLED_COLUMNS}`,
    ),
    failStalled: sqlite.prepare<[string, number, number]>(
      `UPDATE jobs SET state = 'failed', last_error = ?, finished_at = ? WHERE seq = ? AND state = 'waiting'`,
    ),
    insertDead: sqlite.prepare<[string, string, string, string, string | null, number, number]>(
      `INSERT OR IGNORE INTO dead_letters (queue, job_id, payload, error, error_code, attempts, failed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    deadById: sqlite.prepare<[number], DeadLetterRow>(`SELECT * FROM dead_letters WHERE id = ?`),
    deadByJob: sqlite.prepare<[string, string], { id: number }>(
      `SELECT id FROM dead_letters WHERE queue = ? AND job_id = ?`,
    ),
    deadPage: sqlite.prepare<
      {
        queue: string | null;
        resolved: number | null;
        org: string | null;
        cursor: number | null;
        limit: number;
      },
      DeadLetterRow
    >(
      `SELECT * FROM dead_letters
       WHERE (@queue IS NULL OR queue = @queue) AND (@resolved IS NULL OR resolved = @resolved)
         AND (@org IS NULL OR org_id = @org) AND (@cursor IS NULL OR id < @cursor)
       ORDER BY id DESC LIMIT @limit`,
    ),
    deadRetried: sqlite.prepare<[string, number]>(
      `UPDATE dead_letters SET retried_as = json_insert(retried_as, '$[#]', ?) WHERE id = ?`,
    ),
    deadResolve: sqlite.prepare<[number, number]>(
      `UPDATE dead_letters SET resolved = 1, resolved_at = coalesce(resolved_at, ?) WHERE id = ?`,
    ),
    // Three parts so that each one is answered from a (partial) index.
    counts: sqlite.prepare<{ queue: string; now: number }, { state: string; later: number; n: number }>(
      `SELECT 'waiting' AS state, (run_at > @now) AS later, count(*) AS n
         FROM jobs WHERE queue = @queue AND state = 'waiting' GROUP BY 2
       UNION ALL SELECT 'active', 0, count(*) FROM jobs WHERE state = 'active' AND queue = @queue
       UNION ALL SELECT state, 0, count(*) FROM jobs
         WHERE queue = @queue AND state IN ('completed', 'failed') GROUP BY state`,
    ),
    paused: sqlite.prepare<[string], { paused: number }>(`SELECT paused FROM queue_state WHERE queue = ?`),
    setPaused: sqlite.prepare<[string, number]>(
      `INSERT INTO queue_state (queue, paused) VALUES (?, ?) ON CONFLICT(queue) DO UPDATE SET paused = excluded.paused`,
    ),
    upsertSchedule: sqlite.prepare<[string, string, string, string, string, number, number]>(
      `INSERT INTO schedules (queue, key, cron, tz, data, next_run_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(queue, key) DO UPDATE SET
         next_run_at = CASE WHEN schedules.cron = excluded.cron AND schedules.tz = excluded.tz
                            THEN schedules.next_run_at ELSE excluded.next_run_at END,
         cron = excluded.cron, tz = excluded.tz, data = excluded.data, updated_at = excluded.updated_at`,
    ),
    getSchedule: sqlite.prepare<[string, string], ScheduleRow>(
      `SELECT * FROM schedules WHERE queue = ? AND key = ?`,
    ),
    anyDue: sqlite.prepare<[string, number], { one: number }>(
      `SELECT 1 AS one FROM schedules WHERE queue = ? AND next_run_at <= ? LIMIT 1`,
    ),
    dueSchedules: sqlite.prepare<[string, number], ScheduleRow>(
      `SELECT * FROM schedules WHERE queue = ? AND next_run_at <= ?`,
    ),
    moveSchedule: sqlite.prepare<[number, string, string, number]>(
      `UPDATE schedules SET next_run_at = ? WHERE queue = ? AND key = ? AND next_run_at = ?`,
    ),
    deleteSchedule: sqlite.prepare<[string, string]>(`DELETE FROM schedules WHERE queue = ? AND key = ?`),
    listSchedules: sqlite.prepare<{ queue: string | null }, ScheduleRow>(
      `SELECT * FROM schedules WHERE (@queue IS NULL OR queue = @queue) ORDER BY queue, key`,
    ),
  };

  /**
   * A job with a key already taken is not added (BullMQ's rule). The key is claimed after the insert,
   * not looked up before it: new keys are the rule (every guarded command's), and this saves a read.
   */
  function insertOne(n: NormalizedAdd, at: number): AddResult {
    const seq = Number(
      st.insert.run(
        n.queue,
        n.jobId ?? null,
        n.json,
        n.priority,
        n.attempts,
        JSON.stringify(n.backoff),
        n.timeoutMs ?? null,
        at + n.delay,
        at,
      ).lastInsertRowid,
    );
    if (n.jobId && st.insertKey.run(n.queue, n.jobId).changes === 0) {
      st.dropInserted.run();
      return { id: n.jobId, queue: n.queue, deduplicated: true };
    }
    return { id: n.jobId ?? String(seq), queue: n.queue, deduplicated: false };
  }

  const insertMany = sqlite.transaction((items: NormalizedAdd[], at: number) =>
    items.map((n) => insertOne(n, at)),
  );

  function announce(results: AddResult[], items: NormalizedAdd[], at: number): void {
    const queues = new Set<string>();
    results.forEach((r, i) => {
      if (r.deduplicated) return;
      queues.add(r.queue);
      const { orgId, delay } = items[i]!;
      events.emit({ type: 'job.queued', queue: r.queue, jobId: r.id, orgId, ts: at, runAt: at + delay });
    });
    for (const w of workers) if (queues.has(w.queue)) w.kick();
  }

  function addNormalized(items: NormalizedAdd[]): AddResult[] {
    const at = now();
    const results = insertMany.immediate(items, at);
    announce(results, items, at);
    return results;
  }

  /** A tick's job key: the schedule's key and the tick's time, the key hashed when both would not fit a job id. */
  const tickJobId = (key: string, runAt: number) => {
    const id = `schedule.${key}.${runAt}`;
    return id.length <= MAX_JOB_ID
      ? id
      : `schedule.${createHash('sha256').update(key).digest('hex')}.${runAt}`;
  };

  /** Turns due schedule ticks into jobs; the job key makes each tick run once even if two engines race. */
  const materializeSchedules = sqlite.transaction(
    (queue: string, at: number): [AddResult[], NormalizedAdd[]] => {
      const made: AddResult[] = [];
      const items: NormalizedAdd[] = [];
      for (const s of st.dueSchedules.all(queue, at)) {
        try {
          const n = normalizeAdd(queue, parseJson(s.data) ?? null, {
            jobId: tickJobId(s.key, s.next_run_at),
          });
          made.push(insertOne(n, at));
          items.push(n);
        } catch (err) {
          // One schedule whose tick cannot be a job must not stop the queue's other jobs: it skips the tick.
          opts.log?.warn({ err, queue, schedule: s.key }, 'schedule tick could not be queued; skipped');
        }
        st.moveSchedule.run(nextCronRun(s.cron, s.tz, at), queue, s.key, s.next_run_at);
      }
      return [made, items];
    },
  );

  function toInfo(row: JobRow): JobInfo {
    const at = now();
    const state = row.state === 'waiting' && row.run_at > at ? 'delayed' : row.state;
    const info: JobInfo = {
      id: publicId(row),
      queue: row.queue,
      data: parseJson(row.data),
      state,
      priority: row.priority,
      attemptsMade: row.attempts_made,
      attempts: row.max_attempts,
      createdAt: row.created_at,
    };
    if (row.progress !== null) info.progress = parseJson(row.progress);
    if (row.result !== null) info.result = parseJson(row.result);
    if (row.last_error !== null) info.error = row.last_error;
    if (row.state === 'waiting') info.runAt = row.run_at;
    if (row.finished_at !== null) info.finishedAt = row.finished_at;
    return info;
  }

  function findRow(queue: string, id: string): JobRow | undefined {
    const seq = /^\d+$/.test(id) ? Number(id) : st.getKey.get(queue, id)?.job_seq;
    return seq === undefined ? undefined : st.bySeq.get(seq, queue);
  }

  function toDeadLetter(row: DeadLetterRow): DeadLetter {
    const d: DeadLetter = {
      id: String(row.id),
      queue: row.queue,
      jobId: row.job_id,
      payload: parseJson(row.payload),
      error: row.error,
      attempts: row.attempts,
      failedAt: row.failed_at,
      resolved: row.resolved === 1,
      retriedAs: JSON.parse(row.retried_as) as string[],
    };
    if (row.error_code !== null) d.errorCode = row.error_code;
    if (row.resolved_at !== null) d.resolvedAt = row.resolved_at;
    return d;
  }

  function deadRow(id: string): DeadLetterRow {
    const row = /^\d{1,15}$/.test(id) ? st.deadById.get(Number(id)) : undefined;
    if (!row) throw new AppError('NOT_FOUND', `No dead letter ${JSON.stringify(id)}`);
    return row;
  }

  const deadLetters: DeadLetterStore = {
    async list(query) {
      const q = parseOrThrow(DeadLetterQuerySchema, query ?? {}, 'dead-letter query');
      const cursor = !q.cursor ? null : /^\d{1,15}$/.test(q.cursor) ? Number(q.cursor) : NaN;
      if (Number.isNaN(cursor)) throw new AppError('VALIDATION_ERROR', 'Invalid dead-letter cursor');
      const rows = st.deadPage.all({
        queue: q.queue ?? null,
        resolved: q.resolved === undefined ? null : Number(q.resolved),
        org: q.orgId ?? null,
        cursor,
        limit: q.limit + 1,
      });
      const items = rows.slice(0, q.limit).map(toDeadLetter);
      return rows.length > q.limit ? { items, nextCursor: items[items.length - 1]!.id } : { items };
    },
    async get(id) {
      const row = /^\d{1,15}$/.test(id) ? st.deadById.get(Number(id)) : undefined;
      return row ? toDeadLetter(row) : null;
    },
    retry: async (id) =>
      retryDeadLetter(toDeadLetter(deadRow(id)), {
        unfinished: async (queue, jobId) => {
          const state = findRow(queue, jobId)?.state;
          return state === 'waiting' || state === 'active';
        },
        add: async (job) => addNormalized([job])[0]!,
        recordRetry: async (deadLetterId, jobId) => void st.deadRetried.run(jobId, Number(deadLetterId)),
      }),
    async resolve(id) {
      const row = deadRow(id);
      st.deadResolve.run(now(), row.id);
      return toDeadLetter(st.deadById.get(row.id)!);
    },
  };

  /** Files a failed job's dead letter (inside the transaction that failed it); returns its id. */
  function fileDeadLetter(
    row: { queue: string; seq: number; job_key: string | null; data: string },
    failure: { error: string; code?: string },
    attempts: number,
    at: number,
  ): string {
    const id = publicId(row);
    st.insertDead.run(row.queue, id, row.data, failure.error, failure.code ?? null, attempts, at);
    return String(st.deadByJob.get(row.queue, id)!.id);
  }

  /**
   * Jobs whose worker died with them active go back to waiting, without spending an attempt; one that
   * did so more than MAX_STALLS times (it kills its worker, say) fails to the dead letters, as on BullMQ,
   * instead of taking the engine down at every start.
   */
  function takeBackStalled(take: () => StalledRow[], at: number, reason: string): number {
    const out: JobEvent[] = [];
    const rows = sqlite
      .transaction(() => {
        const taken = take();
        for (const r of taken) {
          const ref = { ...jobRef(r), ts: at };
          if (r.stalls <= MAX_STALLS) {
            const attempt = r.attempts_made + 1;
            out.push({ type: 'job.retrying', ...ref, attempt, runAt: at, attemptSpent: false, reason });
            continue;
          }
          const { error } = STALLED;
          const attempts = r.attempts_made;
          st.failStalled.run(error, at, r.seq);
          const deadLetterId = fileDeadLetter(r, STALLED, attempts, at);
          out.push({ type: 'job.failed', ...ref, attempt: attempts, error });
          out.push({ type: 'job.dead', ...ref, deadLetterId, attempts, error });
        }
        return taken;
      })
      .immediate();
    for (const e of out) events.emit(e);
    return rows.length;
  }

  /** Extends our leases and takes back jobs whose lease ran out (their worker died or hung). */
  function sweep(): void {
    const at = now();
    st.heartbeat.run(at + leaseMs, `${owner}:`, `${owner};`);
    const stalled = takeBackStalled(() => st.reclaim.all(at), at, 'stalled: lease expired');
    if (stalled) for (const w of workers) w.kick();
  }

  function ensureSweeper(): void {
    if (sweeper) return;
    sweeper = setInterval(sweep, Math.max(10, Math.floor(leaseMs / 3)));
    sweeper.unref();
  }

  interface Completion {
    row: JobRow;
    token: string;
    attempt: number;
    started: number;
    result: string;
    at: number;
  }

  class SqliteWorker implements Worker {
    private readonly active = new Map<number, { token: string; done: Promise<void> }>();
    /**
     * Completions wait for the next pump and are committed in the same transaction as the next
     * claim: one commit per batch instead of one per job (the WAL write dominates throughput).
     * A crash in that one-tick gap only reruns the job, as any crash mid-job does.
     */
    private pending: Completion[] = [];
    private readonly stop = new AbortController();
    private timer: NodeJS.Timeout | undefined;
    private kicked = false;
    private closing = false;
    readonly queue: string;
    private readonly handler: JobHandler<unknown>;
    private readonly concurrency: number;
    private readonly timeoutMs: number;

    constructor(p: ReturnType<typeof validateProcess>) {
      this.queue = p.queue;
      this.handler = p.handler;
      this.concurrency = p.concurrency;
      this.timeoutMs = p.timeoutMs;
    }

    /** Asks for a pump on the next turn of the event loop, so a long run of jobs never starves I/O. */
    kick(): void {
      if (this.kicked || this.closing) return;
      this.kicked = true;
      setImmediate(() => {
        this.kicked = false;
        this.pump();
      });
    }

    private readonly completeAndClaim = sqlite.transaction(
      (done: Completion[], claim: boolean, at: number) => {
        const committed = done.filter(
          (c) => st.complete.run(c.result, c.at, c.row.seq, c.token).changes === 1,
        );
        const free = this.concurrency - this.active.size;
        if (!claim || free <= 0) return { committed, rows: [] as JobRow[], token: '' };
        const token = `${owner}:${++claimCounter}`;
        const rows = st.claim.all({
          queue: this.queue,
          now: at,
          limit: free,
          token,
          leaseUntil: at + leaseMs,
        });
        return { committed, rows, token };
      },
    );

    /** Commits pending completions (and claims new jobs if asked), then announces the completions. */
    private flush(claim: boolean): { rows: JobRow[]; token: string } {
      const done = this.pending;
      this.pending = [];
      const at = now();
      let r: ReturnType<typeof this.completeAndClaim>;
      try {
        r = this.completeAndClaim.immediate(done, claim, at);
      } catch (err) {
        this.pending = done.concat(this.pending);
        throw err;
      }
      for (const c of r.committed) {
        events.emit({
          type: 'job.completed',
          ...jobRef(c.row),
          ts: c.at,
          attempt: c.attempt,
          durationMs: c.at - c.started,
        });
      }
      return r;
    }

    private pump(): void {
      if (this.closing) return;
      clearTimeout(this.timer);
      const at = now();
      try {
        if (st.anyDue.get(this.queue, at)) {
          const [made, items] = materializeSchedules(this.queue, at);
          announce(made, items, at);
        }
        const { rows, token } = this.flush(true);
        if (rows.length) {
          rows.sort((a, b) => a.priority - b.priority || a.run_at - b.run_at || a.seq - b.seq);
          for (const row of rows) {
            const done = this.runOne(row, token).finally(() => {
              this.active.delete(row.seq);
              this.kick();
            });
            this.active.set(row.seq, { token, done });
          }
        }
      } catch (err) {
        opts.log?.warn({ err, queue: this.queue }, 'queue worker could not claim jobs; will retry');
      }
      if (this.active.size < this.concurrency) {
        // A paused queue's due jobs cannot be claimed: polling for them at once would spin.
        const next = st.paused.get(this.queue)?.paused ? null : st.nextDue.get(this.queue, this.queue)?.at;
        const wait = next == null ? pollMs : Math.min(pollMs, Math.max(1, next - now()));
        this.timer = setTimeout(() => this.pump(), wait);
        this.timer.unref();
      }
    }

    private async runOne(row: JobRow, token: string): Promise<void> {
      const id = publicId(row);
      const attempt = row.attempts_made + 1;
      const started = now();
      const ref = jobRef(row);
      events.emit({ type: 'job.active', ...ref, ts: started, attempt });
      let outcome: AttemptOutcome;
      try {
        outcome = await runAttempt(
          this.handler,
          {
            id,
            queue: this.queue,
            data: JSON.parse(row.data) as unknown,
            attempt,
            attempts: row.max_attempts,
            progress: async (value) => {
              const stored = storableResult(value);
              if (st.progress.run(JSON.stringify(stored), row.seq, token).changes === 1) {
                events.emit({ type: 'job.progress', ...ref, ts: now(), progress: stored });
              }
            },
          },
          row.timeout_ms ?? this.timeoutMs,
          this.stop.signal,
        );
      } catch (err) {
        outcome = { kind: 'failed', error: errorMessage(err), unrecoverable: true };
      }
      try {
        this.settle(row, token, attempt, started, outcome);
      } catch (err) {
        // The outcome could not be stored (disk full, database busy or closed). The job goes back to
        // waiting, its attempt not spent, to run again in a while; if even that cannot be written it
        // stays active, and the next start of the engine puts it back.
        opts.log?.warn(
          { err, queue: this.queue, jobId: id },
          'could not store a job outcome; it will run again',
        );
        try {
          st.requeue.run(now() + SETTLE_RETRY_MS, row.attempts_made, row.last_error, row.seq, token);
        } catch {
          // Nothing more can be done here: see above.
        }
      }
    }

    private settle(
      row: JobRow,
      token: string,
      attempt: number,
      started: number,
      outcome: AttemptOutcome,
    ): void {
      const at = now();
      const base = { ...jobRef(row), ts: at };
      if (outcome.kind === 'completed') {
        this.pending.push({ row, token, attempt, started, result: JSON.stringify(outcome.result), at });
        return;
      }
      if (outcome.kind === 'later') {
        const runAt = at + outcome.delayMs;
        if (st.requeue.run(runAt, row.attempts_made, row.last_error, row.seq, token).changes === 1) {
          events.emit({
            type: 'job.retrying',
            ...base,
            attempt,
            runAt,
            attemptSpent: false,
            reason: outcome.reason,
          });
        }
        return;
      }
      const final = outcome.unrecoverable || attempt >= row.max_attempts;
      if (final) {
        const deadId = this.bury(row, token, attempt, outcome, at);
        if (deadId === undefined) return;
        events.emit({ type: 'job.failed', ...base, attempt, error: outcome.error });
        events.emit({
          type: 'job.dead',
          ...base,
          deadLetterId: deadId,
          attempts: attempt,
          error: outcome.error,
        });
        return;
      }
      const runAt = at + backoffDelay(JSON.parse(row.backoff) as Backoff, attempt, random);
      if (st.requeue.run(runAt, attempt, outcome.error, row.seq, token).changes === 1) {
        events.emit({ type: 'job.failed', ...base, attempt, error: outcome.error });
        events.emit({
          type: 'job.retrying',
          ...base,
          attempt,
          runAt,
          attemptSpent: true,
          reason: outcome.error,
        });
      }
    }

    /** Fails the job and files its dead letter in one transaction; undefined if we lost the lease. */
    private readonly bury = sqlite.transaction(
      (
        row: JobRow,
        token: string,
        attempt: number,
        failure: { error: string; code?: string },
        at: number,
      ): string | undefined => {
        if (st.fail.run(attempt, failure.error, at, row.seq, token).changes !== 1) return undefined;
        return fileDeadLetter(row, failure, attempt, at);
      },
    );

    start(): void {
      ensureSweeper();
      this.kick();
    }

    async close(graceMs = 10_000): Promise<void> {
      if (this.closing) return;
      this.closing = true;
      clearTimeout(this.timer);
      workers.delete(this);
      if (this.active.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        const grace = new Promise((resolve) => (timer = setTimeout(resolve, graceMs)));
        await Promise.race([Promise.allSettled([...this.active.values()].map((a) => a.done)), grace]);
        clearTimeout(timer);
      }
      try {
        this.flush(false);
      } catch (err) {
        opts.log?.warn(
          { err, queue: this.queue },
          'could not record completions at close; those jobs will run again',
        );
      }
      // Jobs still running past the grace period go back to waiting for the next worker.
      const at = now();
      for (const [seq, { token }] of this.active) {
        const row = st.bySeq.get(seq, this.queue);
        if (row && st.requeue.run(at, row.attempts_made, row.last_error, seq, token).changes === 1) {
          events.emit({
            type: 'job.retrying',
            ...jobRef(row),
            ts: at,
            attempt: row.attempts_made + 1,
            runAt: at,
            attemptSpent: false,
            reason: 'worker closed',
          });
        }
      }
      this.stop.abort(new Error('worker closing'));
    }
  }

  if (opts.exclusive) {
    const orphans = takeBackStalled(() => st.orphans.all(), now(), 'stalled: left active by a previous run');
    if (orphans) opts.log?.warn({ orphans }, 'jobs left active by a previous run are back to waiting');
  }

  const toSchedule = (row: ScheduleRow): Schedule => ({
    queue: row.queue,
    key: row.key,
    cron: row.cron,
    tz: row.tz,
    data: parseJson(row.data),
    nextRunAt: row.next_run_at,
  });

  return {
    backend: 'sqlite',
    events,
    deadLetters,
    async add(queue, data, options?: JobOptions) {
      return addNormalized([normalizeAdd(queue, data, options)])[0]!;
    },
    addInTransaction(queue, data, options?: JobOptions) {
      if (!sqlite.inTransaction) throw new Error('addInTransaction needs an open transaction');
      const n = normalizeAdd(queue, data, options);
      const at = now();
      const result = insertOne(n, at);
      return { result, announce: () => announce([result], [n], at) };
    },
    async addBulk(items: BulkItem[]) {
      return addNormalized(normalizeBulk(items));
    },
    process(queue, handler, options) {
      const w = new SqliteWorker(validateProcess(queue, handler, options));
      workers.add(w);
      w.start();
      return w;
    },
    async getJob(queue, id) {
      const row = findRow(validateQueueName(queue), String(id));
      return row ? toInfo(row) : null;
    },
    async counts(queue) {
      const name = validateQueueName(queue);
      const c: JobCounts = { waiting: 0, delayed: 0, active: 0, completed: 0, failed: 0, paused: false };
      for (const r of st.counts.all({ queue: name, now: now() })) {
        const key = r.later ? 'delayed' : (r.state as Exclude<keyof JobCounts, 'paused' | 'delayed'>);
        c[key] += r.n;
      }
      c.paused = st.paused.get(name)?.paused === 1;
      return c;
    },
    async pause(queue) {
      st.setPaused.run(validateQueueName(queue), 1);
    },
    async resume(queue) {
      const name = validateQueueName(queue);
      st.setPaused.run(name, 0);
      for (const w of workers) if (w.queue === name) w.kick();
    },
    async schedule(queue, input: ScheduleInput) {
      const name = validateQueueName(queue);
      const s = parseOrThrow(ScheduleSchema, input, 'schedule');
      const at = now();
      const next = nextCronRun(s.cron, s.tz, at);
      st.upsertSchedule.run(name, s.key, s.cron, s.tz, serializePayload(s.data ?? null), next, at);
      for (const w of workers) if (w.queue === name) w.kick();
      return toSchedule(st.getSchedule.get(name, s.key)!);
    },
    async unschedule(queue, key) {
      return st.deleteSchedule.run(validateQueueName(queue), String(key)).changes > 0;
    },
    async schedules(queue) {
      return st.listSchedules
        .all({ queue: queue === undefined ? null : validateQueueName(queue) })
        .map(toSchedule);
    },
    async ping() {
      sqlite.prepare('SELECT 1').get();
    },
    async close(graceMs) {
      await Promise.all([...workers].map((w) => w.close(graceMs)));
      clearInterval(sweeper);
      sweeper = undefined;
    },
  };
}
