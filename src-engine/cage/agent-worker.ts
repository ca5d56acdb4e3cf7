import type { Compliance } from '../compliance/alerts.ts';
import type { AgentRunStatus } from '../contracts/agents.ts';
import {
  DEFAULT_AGENT_MODEL,
  type AgentLogEvent,
  type AgentLogLine,
  type AgentStatusEvent,
  type CageLogRecord,
  type CageLogStream,
  type CageRunResult,
} from '../contracts/cage.ts';
import type { Sqlite } from '../db/connection.ts';
import { AppError, errorMessage } from '../errors.ts';
import { holdTtlMs } from '../guard/commands/run-agent.ts';
import type { Admission, Charges } from '../ledger/charges.ts';
import type { Logger } from '../logger.ts';
import { UnrecoverableError } from '../queue/errors.ts';
import type { ActiveJob, JobQueue, Worker } from '../queue/port.ts';
import { within } from '../within.ts';
import type { CageEngine } from './cage-engine.ts';

export const AGENT_RUN_QUEUE = 'agent.run';
/** Log lines written in one transaction at most; smaller batches go out on the next turn of the loop. */
const LOG_BATCH = 1000;
/** Past the cage's own time limit: its kill, removal and the final write still fit in the job's time. */
const JOB_TIMEOUT_MARGIN_S = 60;
const ALERT_MAX_CHARS = 500;
/** A run's hold must outlive its timeout by this much when it starts. */
const RUN_HOLD_MARGIN_MS = 3_600_000;
/** The queue's longest attempt timeout (a day). */
const MAX_JOB_TIMEOUT_MS = 86_400_000;
/** How long the start waits for Docker to list the cages a dead engine left (they go at a later start). */
const REAP_TIMEOUT_MS = 10_000;

export type AgentEvent = AgentLogEvent | AgentStatusEvent;

export interface AgentJob {
  orgId: string;
  runId: string;
}

export interface AgentWorkerDeps {
  sqlite: Sqlite;
  queue: JobQueue;
  cage: CageEngine;
  charges: Charges;
  compliance: Pick<Compliance, 'raise'>;
  /** `agent.log` and `agent.status` events (the engine's bus). */
  events: { emit(event: AgentEvent): void };
  /**
   * The commit emitter the ledger emits through: its events raised inside the worker's settling
   * transaction go out after the commit, or are dropped with a rollback.
   */
  txEvents: { flush(): void; discard(): void };
  log: Logger;
  now?: () => number;
  /** For runs that name no model. */
  defaultModel?: string;
  /** How long recover() waits for Docker to list the cages left behind (default 10 s). */
  reapTimeoutMs?: number;
}

export interface AgentWorker {
  /** Starts taking `agent.run` jobs, as many at once as the cage runs. Call `recover()` first. */
  start(): Worker;
  /**
   * At start-up, before `start()`: removes the cages a crashed engine left and ends the runs it
   * left `running` as `error`, releasing their holds. Returns how many runs it ended.
   */
  recover(): Promise<number>;
  /**
   * Cancels a run: a running one is stopped (it ends `cancelled` once its cage is gone); a queued
   * one ends `cancelled` at once. Either way its hold is released. False if it is neither.
   */
  cancel(runId: string): boolean;
}

/** Cancels agent runs: the worker, or `createRunSettlement` in a process that runs no worker. */
export interface AgentRunCanceller {
  /** True if the run was queued (now `cancelled`) or is running here (stopping); false otherwise. */
  cancel(runId: string): boolean;
}

export type RunSettlementDeps = Pick<
  AgentWorkerDeps,
  'sqlite' | 'charges' | 'compliance' | 'events' | 'txEvents' | 'now'
>;

interface RunSettlement extends AgentRunCanceller {
  /**
   * Records how a run ended and settles its charge, once: only the change that finds the run still
   * in `from` settles, so a late or repeated ending (recover, a cancel racing the end) charges nothing.
   */
  finish(row: RunRow, from: 'queued' | 'running', ending: Ending): boolean;
  /** Cancels a queued run only (a running one lives in the worker that runs it); false otherwise. */
  cancel(runId: string): boolean;
}

interface RunRow {
  id: string;
  org_id: string;
  status: AgentRunStatus;
  prompt: string;
  model: string | null;
  max_steps: number;
  timeout_s: number;
  reservation_id: string | null;
  free: number;
  cycle: string | null;
}

interface Ending {
  status: Exclude<AgentRunStatus, 'queued' | 'running'>;
  output: string | null;
  error: string | null;
  stepsUsed: number | null;
  tokensIn: number | null;
  tokensOut: number | null;
}

/**
 * Ends runs and settles their charge (capture on success, release otherwise) in one transaction,
 * once. The worker ends the runs it runs with it; a process without a worker (no data-dir lock)
 * uses it to cancel queued runs: the worker that would take one later finds it ended.
 */
export function createRunSettlement(deps: RunSettlementDeps): RunSettlement {
  const { sqlite, charges } = deps;
  const now = deps.now ?? Date.now;
  const st = {
    get: sqlite.prepare<[string], RunRow>(`SELECT * FROM agent_runs WHERE id = ?`),
    finish: sqlite.prepare<
      [
        {
          id: string;
          from: string;
          status: string;
          output: string | null;
          error: string | null;
          stepsUsed: number | null;
          tokensIn: number | null;
          tokensOut: number | null;
          at: number;
        },
      ]
    >(
      `UPDATE agent_runs SET status = @status, output = @output, error = @error, steps_used = @stepsUsed,
              tokens_in = @tokensIn, tokens_out = @tokensOut, finished_at = @at
       WHERE id = @id AND status = @from`,
    ),
  };

  function finish(row: RunRow, from: 'queued' | 'running', ending: Ending): boolean {
    const at = now();
    let changed: boolean;
    try {
      changed = sqlite
        .transaction(() => {
          const updated = st.finish.run({ id: row.id, from, at, ...ending }).changes === 1;
          // Settled as the row is now, not as it was read when the run started: a ledger sync may have
          // moved the run to another cycle's counters meanwhile (authority.ts, moveCycle).
          const current = updated ? st.get.get(row.id) : undefined;
          if (current)
            charges.settle(admissionOf(current), ending.status === 'success' ? 'success' : 'failure');
          return updated;
        })
        .immediate();
    } catch (err) {
      deps.txEvents.discard();
      throw err;
    }
    deps.txEvents.flush();
    if (!changed) return false;
    deps.events.emit({
      type: 'agent.status',
      orgId: row.org_id,
      runId: row.id,
      status: ending.status,
      error: ending.error,
      ts: at,
    });
    if (ending.status === 'error' || ending.status === 'timeout') {
      deps.compliance.raise(
        row.org_id,
        'agent_failed',
        row.id,
        `Agent run ${row.id} ended with ${ending.status}: ${clip(ending.error ?? '', ALERT_MAX_CHARS)}`,
      );
    }
    return true;
  }

  return {
    finish,
    cancel(runId) {
      const row = st.get.get(runId);
      if (row?.status !== 'queued') return false;
      return finish(row, 'queued', {
        ...FAILED,
        status: 'cancelled',
        error: 'cancelled by the user before it started',
      });
    },
  };
}

/**
 * The `agent.run` worker: takes a queued run, runs it in a cage, stores and streams its log, and
 * records how it ended together with its charge (capture on success, release otherwise) in one
 * transaction. A run's own failure is a recorded result, never a thrown job: one attempt only, so
 * a run is never silently redone and charged twice.
 */
export function createAgentWorker(deps: AgentWorkerDeps): AgentWorker {
  const { sqlite, cage } = deps;
  const now = deps.now ?? Date.now;
  const log = deps.log.child({ module: 'agent-worker' });
  const defaultModel = deps.defaultModel ?? DEFAULT_AGENT_MODEL;
  const { finish, cancel: cancelQueued } = createRunSettlement(deps);
  /** Runs this worker is running, by id: `cancel` aborts them. */
  const live = new Map<string, AbortController>();

  const st = {
    get: sqlite.prepare<[string], RunRow>(`SELECT * FROM agent_runs WHERE id = ?`),
    running: sqlite.prepare<[], RunRow>(`SELECT * FROM agent_runs WHERE status = 'running'`),
    start: sqlite.prepare<[number, string]>(
      `UPDATE agent_runs SET status = 'running', started_at = ? WHERE id = ? AND status = 'queued'`,
    ),
    setReservation: sqlite.prepare<[string | null, string]>(
      `UPDATE agent_runs SET reservation_id = ? WHERE id = ?`,
    ),
  };

  /**
   * Marks the run running, its hold renewed for the whole run if it expired (or would) while it was
   * queued (`Charges.renew`: 402 when the credit is gone). The run as started, or undefined when it
   * is no longer queued.
   */
  function startRun(row: RunRow, at: number, jobId: string): RunRow | undefined {
    let started: RunRow | undefined;
    try {
      started = sqlite
        .transaction(() => {
          if (st.start.run(at, row.id).changes !== 1) return undefined;
          const before = admissionOf(row);
          const after = deps.charges.renew(before, {
            ttlMs: holdTtlMs(row.timeout_s),
            minRemainingMs: row.timeout_s * 1000 + RUN_HOLD_MARGIN_MS,
            jobId,
          });
          if (after.reservationId !== before.reservationId)
            st.setReservation.run(after.reservationId, row.id);
          return st.get.get(row.id);
        })
        .immediate();
    } catch (err) {
      deps.txEvents.discard();
      throw err;
    }
    deps.txEvents.flush();
    return started;
  }

  async function handle(job: ActiveJob<AgentJob>): Promise<{ status: AgentRunStatus } | { skipped: string }> {
    const { runId } = job.data;
    const queued = st.get.get(runId);
    if (!queued) return { skipped: 'no such run' };
    // Cancelled while queued, or ended by recover(): nothing to run, nothing to charge.
    if (queued.status !== 'queued') return { skipped: `run is ${queued.status}` };
    const startedAt = now();
    let started: RunRow | undefined;
    try {
      started = startRun(queued, startedAt, job.id);
    } catch (err) {
      if (!(err instanceof AppError) || err.status >= 500) throw err;
      // Its hold expired while it was queued and the credit is gone: not run, not charged.
      finish(queued, 'queued', { ...FAILED, error: `not started: ${err.message}` });
      throw new UnrecoverableError(err.message);
    }
    if (!started) return { skipped: 'run is no longer queued' };
    const row = started;
    const stop = new AbortController();
    live.set(runId, stop);
    deps.events.emit({
      type: 'agent.status',
      orgId: row.org_id,
      runId,
      status: 'running',
      error: null,
      ts: startedAt,
    });
    const signal = AbortSignal.any([job.signal, stop.signal]);
    const runLog = new RunLog(row, sqlite, deps.events, log);
    let result: CageRunResult;
    try {
      result = await cage.run(
        {
          runId,
          prompt: row.prompt,
          model: row.model ?? defaultModel,
          maxSteps: row.max_steps,
          timeoutS: row.timeout_s,
        },
        { signal, onLog: (record) => runLog.add(record) },
      );
    } catch (err) {
      // The cage could not be started (Docker down, image missing): the run fails, its hold goes
      // back, and the job fails so the operator sees it among the dead letters.
      runLog.close();
      const reason = `the cage could not be started: ${errorMessage(err)}`;
      finish(row, 'running', { ...FAILED, error: reason });
      throw new UnrecoverableError(reason);
    } finally {
      live.delete(runId);
    }
    runLog.close();
    finish(row, 'running', endingOf(result, signal));
    return { status: result.status };
  }

  return {
    start() {
      return deps.queue.process<AgentJob>(AGENT_RUN_QUEUE, handle, {
        concurrency: cage.options.concurrency,
        timeoutMs: Math.min((cage.options.timeoutS + JOB_TIMEOUT_MARGIN_S) * 1000, MAX_JOB_TIMEOUT_MS),
      });
    },

    async recover() {
      const reaped = new Set<string>();
      try {
        // Bounded: a Docker that takes connections and never answers must not hold the engine's start.
        for (const c of await within(cage.reap(), deps.reapTimeoutMs ?? REAP_TIMEOUT_MS))
          if (c.runId) reaped.add(c.runId);
      } catch (err) {
        // Its runs are ended all the same; their containers go at the next start that reaches Docker.
        log.warn({ err }, 'could not reap the cages of the last run of the engine');
      }
      let ended = 0;
      for (const row of st.running.all()) {
        if (live.has(row.id)) continue;
        const where = reaped.has(row.id) ? ' (its container was removed at restart)' : '';
        const error = `the engine stopped while the run was in progress${where}`;
        if (finish(row, 'running', { ...FAILED, error })) ended += 1;
      }
      if (ended > 0 || reaped.size > 0)
        log.info({ runs: ended, containers: reaped.size }, 'ended the agent runs a stopped engine left');
      return ended;
    },

    cancel(runId) {
      const running = live.get(runId);
      if (!running) return cancelQueued(runId);
      running.abort(new Error('cancelled by the user'));
      return true;
    },
  };
}

const FAILED: Ending = {
  status: 'error',
  output: null,
  error: null,
  stepsUsed: null,
  tokensIn: null,
  tokensOut: null,
};

function endingOf(result: CageRunResult, signal: AbortSignal): Ending {
  const counts = { stepsUsed: result.stepsUsed, tokensIn: result.tokensIn, tokensOut: result.tokensOut };
  if (result.status === 'success')
    return { status: 'success', output: result.output, error: null, ...counts };
  // A cancel says who asked for it: the user, or the engine shutting down or timing the job out.
  const reason =
    result.status === 'cancelled' && signal.aborted ? errorMessage(signal.reason) : result.output;
  return {
    status: result.status,
    output: null,
    error: `${result.failure ?? result.status}: ${reason}`,
    ...counts,
  };
}

function admissionOf(row: RunRow): Admission {
  return {
    orgId: row.org_id,
    unit: 'ai_run',
    cycle: row.cycle ?? '',
    free: row.free === 1,
    reservationId: row.reservation_id,
  };
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * One run's log on its way to `agent_run_logs` and the event stream. Records are batched: a
 * transaction per batch instead of per line is what keeps up with a runner printing 100,000 lines
 * a second. Every record the cage passes on is both stored and emitted, so the stored log and the
 * live stream are the same lines; the cage's `maxLogRecords` bounds them (at about 100 bytes a
 * line, a run of 200,000 lines is ~20 MB on disk).
 */
class RunLog {
  private buffer: CageLogRecord[] = [];
  private scheduled: NodeJS.Immediate | undefined;
  private warned = false;
  private readonly insert;
  private readonly write;

  constructor(
    private readonly row: RunRow,
    sqlite: Sqlite,
    private readonly events: { emit(event: AgentEvent): void },
    private readonly log: Logger,
  ) {
    this.insert = sqlite.prepare<[string, number, CageLogStream, string, number]>(
      `INSERT INTO agent_run_logs (run_id, seq, stream, text, ts) VALUES (?, ?, ?, ?, ?)`,
    );
    this.write = sqlite.transaction((records: CageLogRecord[]) => {
      for (const r of records) this.insert.run(r.runId, r.seq, r.stream, r.text, r.ts);
    });
  }

  add(record: CageLogRecord): void {
    this.buffer.push(record);
    if (this.buffer.length >= LOG_BATCH) this.flush();
    else this.scheduled ??= setImmediate(() => this.flush());
  }

  /** Writes what is buffered; called at the end of the run, before its result is recorded. */
  close(): void {
    this.flush();
  }

  private flush(): void {
    clearImmediate(this.scheduled);
    this.scheduled = undefined;
    const batch = this.buffer;
    if (batch.length === 0) return;
    this.buffer = [];
    try {
      this.write(batch);
    } catch (err) {
      // A log that cannot be stored must not fail the run: it is still contained and charged.
      if (!this.warned) this.log.warn({ err, runId: this.row.id }, 'could not store agent log lines');
      this.warned = true;
    }
    const orgId = this.row.org_id;
    for (const r of batch) {
      this.events.emit({
        type: 'agent.log',
        orgId,
        runId: r.runId,
        seq: r.seq,
        stream: r.stream,
        text: r.text,
        ts: r.ts,
      });
    }
  }
}

/** A run's stored log in order, from after `afterSeq`: what a UI replays for a finished run. */
export function readRunLog(
  sqlite: Sqlite,
  runId: string,
  opts: { afterSeq?: number; limit?: number } = {},
): AgentLogLine[] {
  return sqlite
    .prepare<[string, number, number], AgentLogLine>(
      `SELECT run_id AS runId, seq, stream, text, ts FROM agent_run_logs
       WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
    )
    .all(runId, opts.afterSeq ?? 0, opts.limit ?? -1); // SQLite: LIMIT -1 is no limit
}
