import type { JobOptions } from '../contracts/queue.ts';
import type { Sqlite } from '../db/connection.ts';
import type { Logger } from '../logger.ts';
import type { JobQueue } from '../queue/port.ts';
import { within } from '../within.ts';

/** Longest a command's answer waits for its job to reach Redis; the push goes on after that. */
const HANDOFF_WAIT_MS = 1_000;

/** A job the guard decided to queue: its id is fixed in advance, so adding it twice is harmless. */
export interface JobSpec {
  queue: string;
  jobId: string;
  /** Engine jobs carry the org, so dead letters can be scoped to it. */
  data: { orgId: string } & Record<string, unknown>;
  opts?: Omit<JobOptions, 'jobId'>;
}

/**
 * Hands guarded jobs to the queue atomically with the rows that describe them (the reservation, the
 * message). On the embedded queue the job joins the guard's own transaction. On an external queue
 * (BullMQ) that is impossible, so the job is written to `job_outbox` in that transaction and pushed
 * to Redis after the commit; a crash in between leaves the row, which `drain()` pushes at start-up
 * (the fixed job id makes a repeat a no-op). Either way a hold is never stranded without its job.
 */
export interface JobOutbox {
  /** Inside the guard's transaction. Returns what to do once the command is durable (committed or journaled). */
  stage(job: JobSpec): () => Promise<void>;
  /**
   * At start-up: hands the jobs a previous run left to the queue in the background, so that an engine
   * starts (and answers) while Redis is still down; they follow when it is back.
   */
  resume(): void;
  close(): void;
}

export function createJobOutbox(deps: {
  sqlite: Sqlite;
  queue: JobQueue;
  log: Logger;
  /** Delay before draining again after a failed push. */
  retryMs?: number;
}): JobOutbox {
  const { sqlite, queue, log } = deps;
  const st = {
    put: sqlite.prepare<[string, string, string, string, number]>(
      `INSERT OR IGNORE INTO job_outbox (job_id, queue, data, opts, created_at) VALUES (?, ?, ?, ?, ?)`,
    ),
    all: sqlite.prepare<[], { job_id: string; queue: string; data: string; opts: string }>(
      `SELECT job_id, queue, data, opts FROM job_outbox ORDER BY created_at LIMIT 500`,
    ),
    done: sqlite.prepare<[string]>(`DELETE FROM job_outbox WHERE job_id = ?`),
  };
  let retry: NodeJS.Timeout | undefined;
  let closed = false;

  async function push(jobId: string, q: string, data: unknown, opts: JobOptions): Promise<void> {
    await queue.add(q, data, { ...opts, jobId });
    st.done.run(jobId);
  }

  /** Pushes every staged job still waiting (at start, and after a failed push). */
  async function drain(): Promise<number> {
    let pushed = 0;
    for (;;) {
      const rows = st.all.all();
      for (const r of rows) {
        await push(r.job_id, r.queue, JSON.parse(r.data), JSON.parse(r.opts) as JobOptions);
        pushed++;
      }
      if (rows.length < 500) return pushed;
    }
  }

  function retryLater(err: unknown) {
    log.warn({ err }, 'could not hand a job to the queue; will retry');
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      void drain().catch(retryLater);
    }, deps.retryMs ?? 2_000);
    retry.unref();
  }

  const outbox: JobOutbox = {
    stage(job) {
      if (queue.addInTransaction) {
        const { announce } = queue.addInTransaction(job.queue, job.data, { ...job.opts, jobId: job.jobId });
        return async () => announce();
      }
      const opts = job.opts ?? {};
      st.put.run(job.jobId, job.queue, JSON.stringify(job.data), JSON.stringify(opts), Date.now());
      // The job is durable in the outbox already: an unreachable Redis delays the job, not the answer.
      return () => {
        const pushed = push(job.jobId, job.queue, job.data, opts).catch(retryLater);
        return within(pushed, HANDOFF_WAIT_MS).catch(() => {});
      };
    },
    resume() {
      void drain().then((jobs) => {
        if (jobs > 0) log.info({ jobs }, 'queued jobs left in the outbox by the last run');
      }, retryLater);
    },
    close() {
      closed = true;
      clearTimeout(retry);
    },
  };
  return outbox;
}
