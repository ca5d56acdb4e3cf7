import type { Sqlite } from '../db/connection.ts';
import type { WriteJournal } from '../db/journal.ts';
import type { CommitEmitter } from '../events.ts';

/**
 * Group commit: units of work that arrive together (concurrent HTTP requests, IPC calls made in the
 * same tick) share one SQLite transaction, so the WAL pages they have in common (the tables' last
 * pages, the counters, the queue's indexes) are written once per batch instead of once per request.
 *
 * - Each unit runs in its own SAVEPOINT: one that throws rolls back only itself and gets its error;
 *   the others commit.
 * - A promise settles only after the batch's COMMIT returned: a caller that got a result has it
 *   durably stored (WAL, see db/connection.ts), never before.
 * - Events held during a unit (ledger events, see events.ts) are dropped with its savepoint, and the
 *   rest are emitted once, after the COMMIT. If the transaction itself fails (BEGIN or COMMIT, or an
 *   error after which SQLite rolled everything back), every unit of the batch gets that error and
 *   nothing of it is emitted.
 *
 * A batch starts with the first unit and is written on the next turn of the event loop
 * (setImmediate, after the pending I/O callbacks, so requests read together are batched), or at once
 * when it reaches `maxBatch`. Work runs synchronously inside the transaction: it must not await.
 *
 * With a write journal (db/journal.ts; the engine holding the data-dir lock has one) a unit has no
 * savepoint (the journal undoes one that fails after writing by replaying its batch) and is
 * durable once its writes are journaled, so it settles at once, with its events, and the batch's
 * COMMIT holds nobody's answer. It comes at `maxBatch` units, or on a turn of the event loop that
 * brought no new unit, or once the batch is `maxDelayMs` (5) old: a caller that sends one command
 * after another, or a steady stream of requests, shares batches too. Other processes see the batch
 * when it commits; this one sees it at once (same connection).
 */
export interface GroupCommit {
  run<T>(work: () => T): Promise<T>;
}

type HeldEvents = Pick<CommitEmitter<unknown>, 'mark' | 'discardSince' | 'flush' | 'discard'>;

interface Unit {
  work: () => unknown;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export function createGroupCommit(deps: {
  sqlite: Sqlite;
  events: HeldEvents;
  maxBatch?: number;
  journal?: WriteJournal;
  /** With a journal: the oldest a batch gets while commands keep coming (ms, default 5). */
  maxDelayMs?: number;
  /**
   * A journaled batch's COMMIT failed (its units stay in the journal for the next start); it is tried
   * again in `retryInMs`, the wait doubling after each failure.
   */
  onCommitError?: (error: unknown, retryInMs: number) => void;
  now?: () => number;
}): GroupCommit {
  if (deps.journal) return journaledGroupCommit({ ...deps, journal: deps.journal });
  const { sqlite, events } = deps;
  const maxBatch = deps.maxBatch ?? 64;
  let waiting: Unit[] = [];
  let scheduled = false;

  // One unit of work: a transaction of its own when called alone, a SAVEPOINT when called inside
  // the batch's open transaction (better-sqlite3 nests transaction functions that way).
  const unitTx = sqlite.transaction((work: () => unknown) => work());
  const together = sqlite.transaction((units: Unit[]): Outcome[] =>
    units.map((unit): Outcome => {
      const mark = events.mark();
      try {
        return { ok: true, value: unitTx(unit.work) };
      } catch (error) {
        // Some errors (disk full, I/O) make SQLite roll back the whole transaction: nothing stands.
        if (!sqlite.inTransaction) throw error;
        events.discardSince(mark);
        return { ok: false, error };
      }
    }),
  );

  function commit(units: Unit[]): Outcome[] {
    // A batch of one needs no savepoint: the transaction is its own.
    if (units.length === 1) return [{ ok: true, value: unitTx.immediate(units[0]!.work) }];
    return together.immediate(units);
  }

  function flush(): void {
    scheduled = false;
    const units = waiting;
    waiting = [];
    if (units.length === 0) return;
    let outcomes: Outcome[];
    try {
      outcomes = commit(units);
    } catch (error) {
      events.discard();
      for (const u of units) u.reject(error);
      return;
    }
    events.flush();
    units.forEach((u, i) => {
      const o = outcomes[i]!;
      if (o.ok) u.resolve(o.value);
      else u.reject(o.error);
    });
  }

  return {
    run<T>(work: () => T): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        waiting.push({ work, resolve: resolve as (v: unknown) => void, reject });
        if (waiting.length >= maxBatch) flush();
        else if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
  };
}

/** How soon a journaled batch whose COMMIT failed is tried again: after 1 s, doubling up to 30 s. */
const COMMIT_RETRY_MS = 1_000;
const COMMIT_RETRY_MAX_MS = 30_000;

function journaledGroupCommit(deps: {
  journal: WriteJournal;
  events: HeldEvents;
  maxBatch?: number;
  maxDelayMs?: number;
  onCommitError?: (error: unknown, retryInMs: number) => void;
  now?: () => number;
}): GroupCommit {
  const { journal, events } = deps;
  const maxBatch = deps.maxBatch ?? 256;
  const maxDelayMs = deps.maxDelayMs ?? 5;
  const now = deps.now ?? performance.now.bind(performance);
  let scheduled = false;
  let openedAt = 0;
  let seen = 0;

  let retry: { timer: NodeJS.Timeout; batch: number } | undefined;
  let retryInMs = COMMIT_RETRY_MS;

  function commit(): void {
    scheduled = false;
    if (retry) {
      // After a failure only the retry timer commits that batch: not every new unit or turn (and log
      // line) again. Unless it committed meanwhile (another write of the process commits it first).
      if (retry.batch === journal.batch) return;
      clearTimeout(retry.timer);
      retry = undefined;
      retryInMs = COMMIT_RETRY_MS;
    }
    try {
      journal.commit();
      retryInMs = COMMIT_RETRY_MS;
    } catch (error) {
      deps.onCommitError?.(error, retryInMs);
      // The batch holds SQLite's write lock until it commits: try again, not only at the next command.
      const timer = setTimeout(() => {
        retry = undefined;
        commit();
      }, retryInMs);
      timer.unref();
      retry = { timer, batch: journal.batch };
      retryInMs = Math.min(retryInMs * 2, COMMIT_RETRY_MAX_MS);
    }
    // Events other code emitted while the batch was open (it counts as a transaction) go out now.
    events.flush();
  }

  /**
   * On each turn of the event loop: commit once a turn brought no new unit (the engine is idle) or
   * the batch is `maxDelayMs` old; while commands keep coming, they keep sharing the batch.
   */
  function tick(): void {
    const pending = journal.pending;
    if (pending === 0) {
      scheduled = false; // committed meanwhile (maxBatch, or another write of the process)
      return;
    }
    if (pending > seen && now() - openedAt < maxDelayMs) {
      seen = pending;
      setImmediate(tick);
      return;
    }
    commit();
  }

  return {
    run<T>(work: () => T): Promise<T> {
      const mark = events.mark();
      const fresh = journal.pending === 0;
      let value: T;
      try {
        value = journal.unit(work);
      } catch (error) {
        events.discardSince(mark);
        return Promise.reject(error);
      }
      events.flush();
      if (fresh) openedAt = now();
      if (journal.pending >= maxBatch) commit();
      else if (!scheduled) {
        scheduled = true;
        seen = journal.pending;
        setImmediate(tick);
      }
      return Promise.resolve(value);
    },
  };
}
