import {
  closeSync,
  existsSync,
  ftruncateSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import type { Statement } from 'better-sqlite3';
import { AppError, errorMessage } from '../errors.ts';
import { acquireDataDirLock, lockHolder } from '../lock.ts';
import type { Sqlite } from './connection.ts';

/*
 * The guard's write journal: how a guarded command is acknowledged without a SQLite COMMIT of its own.
 *
 * A COMMIT writes every page the command touched to the WAL (13 or so per send: the message, the job,
 * the hold and their indexes), which costs more than all the rest of the guard. Here commands run as
 * *units* inside one long SQLite transaction (the batch), and each unit is made durable by appending
 * the SQL statements it wrote, with their parameters, as one line to a file next to the database: one
 * small write() instead of a dozen page writes. The unit is answered after that write. The batch is
 * committed later (group-commit.ts says when; before any other write of this process; at close), with
 * the number of the last unit it holds; then the journal is emptied. After a crash the open batch is
 * gone from SQLite but its units are in the journal: the next opening of the database applies every
 * unit numbered after the last committed one, in order, before anything else touches it.
 *
 * Why statements and not commands: replaying the recorded writes gives back exactly what was answered,
 * whatever the clock, the ids or the code that decided them. Two rules keep that true:
 * - a unit's writes must depend only on the database and its own parameters (use SQL such as
 *   `last_insert_rowid()` rather than passing back a rowid read from an earlier statement);
 * - nothing else may write while a batch is open. Other writers of this process are made to commit the
 *   batch first (the connection is wrapped: statements, transactions, exec, pragma, close); other
 *   processes wait for SQLite's write lock, which the batch holds. Only the engine that holds the data
 *   directory's lock journals; any other opener applies a journal a dead engine left (replayLeftJournal).
 *
 * Durability is that of the WAL with `synchronous=NORMAL` (db/connection.ts): an acknowledged unit
 * survives a crash of the process; a power loss may drop the last ones.
 */

export interface WriteJournal {
  /**
   * Runs `work` as one unit of the open batch (opening one if needed): its writes are journaled before
   * it returns. If it throws, it leaves nothing, in SQLite or the journal (one that throws after writing
   * costs a replay of the batch: decide refusals before writing).
   */
  unit<T>(work: () => T): T;
  /** Commits the open batch, if any, and empties the journal. */
  commit(): void;
  /** Units in the open batch. */
  readonly pending: number;
  /** How many batches were opened: a new number once the last one committed (or was dropped). */
  readonly batch: number;
  /** Commits, then closes the journal file (the connection stays open). */
  close(): void;
}

/** What opening found in a journal. */
export interface JournalReplay {
  /** Units applied from it. */
  replayed: number;
  /**
   * It could not be applied whole (damaged, numbered after a gap — e.g. the last commit before a power
   * loss was lost —, or a unit the database refuses): the units before the problem were applied (none
   * of a damaged file), and the file was renamed to `file`, untouched.
   */
  setAside?: { file: string; reason: string };
}

type Args = unknown[];
interface Write {
  sql: string;
  args: Args;
}

/** The journal of the database `dbFile`. */
export const journalFile = (dbFile: string) => `${dbFile}.guard-log`;

const STATE_TABLE = 'guard_journal_state';

/** A journal whose content cannot be applied as it is (as opposed to a database that cannot write now). */
class JournalContentError extends Error {}

/** Statement parameters back from JSON: Buffers, bigints and non-finite numbers were tagged. */
function revive(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(revive);
  if (value === null || typeof value !== 'object') return value;
  const o = value as Record<string, unknown>;
  if (o.type === 'Buffer' && Array.isArray(o.data)) return Buffer.from(o.data as number[]);
  if (typeof o.$bigint === 'string') return BigInt(o.$bigint);
  if (typeof o.$number === 'string') return Number(o.$number);
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, revive(v)]));
}

/**
 * Parameters as they must be stored, or as they are in the common case: JSON keeps neither an
 * `undefined` named parameter (bound as NULL) nor NaN/Infinity, and has no bigint.
 */
function storable(args: Args): Args {
  const fix = (v: unknown): unknown => {
    if (v === undefined) return null;
    if (typeof v === 'number' && !Number.isFinite(v)) return { $number: String(v) };
    if (typeof v === 'bigint') return { $bigint: v.toString() };
    return v;
  };
  let changed = false;
  const out = args.map((a) => {
    if (Array.isArray(a)) {
      // An array binds its elements as positional parameters.
      const fixed = storable(a as Args);
      if (fixed !== a) changed = true;
      return fixed;
    }
    if (a !== null && typeof a === 'object' && !Buffer.isBuffer(a)) {
      const named = a as Record<string, unknown>;
      let copy: Record<string, unknown> | undefined;
      for (const k in named) {
        const v = named[k];
        const f = fix(v);
        if (f !== v) (copy ??= { ...named })[k] = f;
      }
      if (copy) changed = true;
      return copy ?? a;
    }
    const f = fix(a);
    if (f !== a) changed = true;
    return f;
  });
  return changed ? out : args;
}

/** The units of a journal's text after `applied`, in order; a torn last line was never acknowledged. */
export function readJournal(text: string, applied: number): { seq: number; writes: Write[] }[] {
  const sqlById = new Map<number, string>();
  const units: { seq: number; writes: Write[] }[] = [];
  const lines = text.split('\n');
  // A complete line always ends with "\n"; what follows the last one is a write cut short.
  lines.pop();
  for (const [i, line] of lines.entries()) {
    let rec: { d?: number; sql?: string; q?: number; w?: [number, Args][] };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      throw new JournalContentError(`line ${i + 1} is not valid JSON; the journal is damaged`);
    }
    if (typeof rec.d === 'number' && typeof rec.sql === 'string') {
      sqlById.set(rec.d, rec.sql);
      continue;
    }
    if (typeof rec.q !== 'number' || !Array.isArray(rec.w)) {
      throw new JournalContentError(`line ${i + 1} is not a unit`);
    }
    if (rec.q <= applied) continue;
    const writes = rec.w.map(([id, args]) => {
      const sql = sqlById.get(id);
      if (sql === undefined) throw new JournalContentError(`line ${i + 1} names unknown statement ${id}`);
      try {
        return { sql, args: revive(args) as Args };
      } catch (err) {
        throw new JournalContentError(
          `line ${i + 1} has a parameter that cannot be read: ${errorMessage(err)}`,
        );
      }
    });
    units.push({ seq: rec.q, writes });
  }
  return units;
}

interface Raw {
  prepare: (sql: string) => Statement;
  transaction: Sqlite['transaction'];
}

/** The connection's own prepare and transaction, bound: taken before the journal wraps them. */
const rawOf = (sqlite: Sqlite): Raw => ({
  prepare: sqlite.prepare.bind(sqlite),
  transaction: sqlite.transaction.bind(sqlite),
});

/** The database's number of the last unit it holds (creating the bookkeeping row the first time). */
function appliedSeq(raw: Raw): number {
  raw
    .prepare(
      `CREATE TABLE IF NOT EXISTS ${STATE_TABLE} (id INTEGER PRIMARY KEY CHECK (id = 1), applied_seq INTEGER NOT NULL)`,
    )
    .run();
  raw.prepare(`INSERT OR IGNORE INTO ${STATE_TABLE} (id, applied_seq) VALUES (1, 0)`).run();
  return raw.prepare(`SELECT applied_seq FROM ${STATE_TABLE} WHERE id = 1`).pluck().get() as number;
}

/** SQLite errors that say the database cannot write right now, not that a statement is refused. */
const TRANSIENT = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|NOMEM|READONLY|CANTOPEN|INTERRUPT|PROTOCOL)/;
const isTransient = (err: unknown) => TRANSIENT.test(String((err as { code?: unknown }).code ?? ''));

/**
 * Applies the units of `text` after the database's last one, in order, in one IMMEDIATE transaction
 * (the last number is read inside it, so two openers never apply a unit twice), each unit in its own
 * savepoint. Stops before a gap in the numbering or a unit the database refuses, keeping the units
 * before it: `failed` says why. Transient errors (busy, I/O, full) throw, applying nothing.
 */
function applyText(raw: Raw, text: string): { applied: number; replayed: number; failed?: unknown } {
  return raw
    .transaction(() => {
      const applied = appliedSeq(raw);
      const units = readJournal(text, applied);
      const cache = new Map<string, Statement>();
      const applyUnit = raw.transaction((writes: Write[]) => {
        for (const w of writes) {
          let s = cache.get(w.sql);
          if (!s) cache.set(w.sql, (s = raw.prepare(w.sql)));
          s.run(...w.args);
        }
      });
      let last = applied;
      let failed: unknown;
      for (const u of units) {
        if (u.seq !== last + 1) {
          failed = new JournalContentError(
            `unit ${u.seq} follows unit ${last}: units are missing (the database's last commit was lost, or the journal belongs to another database)`,
          );
          break;
        }
        try {
          applyUnit(u.writes);
        } catch (err) {
          if (isTransient(err)) throw err;
          failed = new JournalContentError(`unit ${u.seq} was refused: ${errorMessage(err)}`);
          break;
        }
        last = u.seq;
      }
      raw.prepare(`UPDATE ${STATE_TABLE} SET applied_seq = ? WHERE id = 1`).run(last);
      return { applied: last, replayed: last - applied, ...(failed !== undefined && { failed }) };
    })
    .immediate();
}

/**
 * Applies the journal of `dbFile`, if any, and empties it; one that cannot be applied is set aside
 * (see JournalReplay). Only for the journal's one writer: the engine that holds the data-dir lock,
 * or an opener holding it while no engine runs.
 */
function replayJournal(raw: Raw, dbFile: string): JournalReplay & { applied: number } {
  const file = journalFile(dbFile);
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  let r: ReturnType<typeof applyText>;
  try {
    r = applyText(raw, text);
  } catch (err) {
    if (!(err instanceof JournalContentError)) throw err; // transient: nothing applied, try again later
    r = { applied: appliedSeq(raw), replayed: 0, failed: err };
  }
  if (r.failed === undefined) {
    if (text !== '') writeFileSync(file, '');
    return { applied: r.applied, replayed: r.replayed };
  }
  // What could be applied is; the file is kept whole, under another name, for whoever looks into it.
  const aside = `${file}.${Date.now()}.unapplied`;
  renameSync(file, aside);
  return {
    applied: r.applied,
    replayed: r.replayed,
    setAside: { file: aside, reason: errorMessage(r.failed) },
  };
}

/**
 * For every opener of the database but the journaling engine: applies a journal that an engine which
 * died left behind, holding the data-dir lock meanwhile. A running engine's journal is its own (it
 * commits it); an engine starting at this moment replays it itself.
 */
export function replayLeftJournal(sqlite: Sqlite, dbFile: string): JournalReplay | undefined {
  const file = journalFile(dbFile);
  if (!existsSync(file) || statSync(file).size === 0) return undefined;
  const dataDir = dirname(dbFile);
  if (lockHolder(dataDir) !== undefined) return undefined;
  let lock: ReturnType<typeof acquireDataDirLock>;
  try {
    lock = acquireDataDirLock(dataDir, { role: 'replay' });
  } catch {
    return undefined;
  }
  try {
    const { replayed, setAside } = replayJournal(rawOf(sqlite), dbFile);
    return { replayed, ...(setAside && { setAside }) };
  } finally {
    lock.release();
  }
}

/**
 * Opens the journal of `dbFile` for `sqlite` (the engine's one connection, right after it is opened,
 * before migrations): applies what a crash left, then wraps the connection so that writes outside a
 * unit commit the open batch first. Once per connection, before anything prepares statements on it.
 */
export function openWriteJournal(sqlite: Sqlite, dbFile: string): WriteJournal & JournalReplay {
  const file = journalFile(dbFile);
  const raw = rawOf(sqlite);
  const opened = replayJournal(raw, dbFile);
  const st = {
    setApplied: raw.prepare(`UPDATE ${STATE_TABLE} SET applied_seq = ? WHERE id = 1`),
    begin: raw.prepare('BEGIN IMMEDIATE'),
    commit: raw.prepare('COMMIT'),
    rollback: raw.prepare('ROLLBACK'),
  };
  // 'w' and writes at explicit offsets, not 'a': on Windows a file opened for appending cannot be
  // truncated.
  const fd = openSync(file, 'w');
  /** Bytes in the journal file: a failed append is cut off again, never left half-written. */
  let size = 0;
  /** The last unit journaled. */
  let seq = opened.applied;

  let open = false;
  let batches = 0;
  let inUnit = false;
  let units = 0;
  let closed = false;
  let recorded: [string, Args][] = [];
  /** SQL text -> its number in the current journal file (written once per file, before first use). */
  let defined = new Map<string, number>();
  /**
   * SQLite dropped a batch (disk full, I/O error) and applying its units again from the journal failed
   * too: no new unit until that succeeds, or later units would commit without the earlier ones.
   */
  let stuck: unknown;

  function shutdown(): void {
    if (closed) return;
    closed = true;
    closeSync(fd);
  }

  function emptyJournal(): void {
    ftruncateSync(fd, 0);
    size = 0;
    defined = new Map();
  }

  /** Applies the journal again after SQLite dropped the open batch; refuses new units until it works. */
  function recover(): void {
    const unavailable = (why: string) =>
      new AppError(
        'UNAVAILABLE',
        `Commands cannot be stored right now (${why}); those already accepted are kept in ${file}`,
      );
    // Inside another transaction of this process the units would only be a savepoint of it.
    if (sqlite.inTransaction) throw unavailable('a transaction is open');
    open = false;
    units = 0;
    try {
      const r = applyText(raw, readFileSync(file, 'utf8'));
      if (r.failed !== undefined) throw r.failed;
      emptyJournal();
      stuck = undefined;
    } catch (err) {
      stuck = err;
      throw unavailable(errorMessage(err));
    }
  }

  function commit(): void {
    if (closed) return;
    if (stuck !== undefined) return recover();
    if (!open) return;
    if (!sqlite.inTransaction) return recover();
    try {
      st.setApplied.run(seq);
      st.commit.run();
    } catch (err) {
      if (sqlite.inTransaction) throw err; // still open (e.g. busy): a later commit tries again
      return recover();
    }
    open = false;
    units = 0;
    // Everything in the journal is in the database now. A crash before this truncate leaves lines the
    // next start skips (their numbers are not after applied_seq).
    emptyJournal();
  }

  /** Writes the unit's line (and the text of any statement it is the first to use) in one write(). */
  function append(writes: [string, Args][]): void {
    const fresh = new Map<string, number>();
    let head = '';
    const refs = writes.map(([sql, args]): [number, Args] => {
      let id = defined.get(sql) ?? fresh.get(sql);
      if (id === undefined) {
        id = defined.size + fresh.size;
        fresh.set(sql, id);
        head += `${JSON.stringify({ d: id, sql })}\n`;
      }
      return [id, storable(args)];
    });
    const buf = Buffer.from(`${head}${JSON.stringify({ q: seq + 1, w: refs })}\n`);
    try {
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off, size + off);
    } catch (err) {
      ftruncateSync(fd, size);
      throw err;
    }
    size += buf.length;
    for (const [sql, id] of fresh) defined.set(sql, id);
    seq++;
  }

  // --- wrapping the connection ---------------------------------------------------------------
  // Also while a re-apply is owed: nothing may commit ahead of units already answered.
  const barrier = () => {
    if ((open || stuck !== undefined) && !inUnit) commit();
  };
  /** SQLite rolled the batch back under a unit that went on (it caught the error): stop it. */
  const checkBatch = () => {
    if (inUnit && !sqlite.inTransaction) throw new Error('The batch was rolled back under this unit');
  };
  sqlite.prepare = function (source: string) {
    const stmt = raw.prepare(source);
    // Read-only without rows: transaction control (BEGIN ... RELEASE, with or without comments),
    // ATTACH, setting pragmas. Neither journaled nor allowed past an open batch.
    const control = stmt.readonly && !stmt.reader;
    if (stmt.readonly && !control) return stmt;
    for (const method of ['run', 'get', 'all', 'iterate'] as const) {
      const orig = stmt[method] as (...a: Args) => unknown;
      (stmt as unknown as Record<string, unknown>)[method] = function (this: Statement, ...args: Args) {
        if (control && inUnit) throw new Error(`${source} inside a journaled unit`);
        checkBatch();
        barrier();
        const result = orig.apply(this, args);
        if (inUnit) recorded.push([source, args]);
        return result;
      };
    }
    return stmt;
  } as Sqlite['prepare'];

  sqlite.transaction = function (fn: (...a: Args) => unknown) {
    const tx = raw.transaction(fn);
    const wrap = (variant: (...a: Args) => unknown) =>
      function (this: unknown, ...args: Args) {
        barrier();
        // A nested transaction that throws rolls back to its savepoint: forget what it recorded.
        const mark = recorded.length;
        try {
          return variant.apply(this, args);
        } catch (err) {
          if (inUnit) recorded.length = mark;
          throw err;
        }
      };
    const wrapped = wrap(tx);
    for (const v of ['default', 'deferred', 'immediate', 'exclusive'] as const) {
      Object.defineProperty(wrapped, v, { value: v === 'default' ? wrapped : wrap(tx[v]) });
    }
    Object.defineProperty(wrapped, 'database', { value: sqlite, enumerable: true });
    return wrapped;
  } as Sqlite['transaction'];

  for (const method of ['exec', 'pragma', 'close', 'backup', 'serialize'] as const) {
    const orig = sqlite[method] as (...a: Args) => unknown;
    (sqlite as unknown as Record<string, unknown>)[method] = function (this: Sqlite, ...args: Args) {
      // Inside a unit only reading pragmas make sense; anything else could not be journaled.
      if (inUnit && method !== 'pragma') throw new Error(`sqlite.${method} inside a journaled unit`);
      if (method !== 'close') barrier();
      else {
        try {
          barrier();
        } catch {
          // Closing anyway: the batch's units are in the journal, and the next opening applies them.
        }
        shutdown();
      }
      return orig.apply(this, args);
    };
  }

  /**
   * A unit runs without a savepoint of its own: one cost 12-16 % of a guarded send (SQLite copies
   * every page the unit changes into its undo journal first). A unit that throws after it wrote is
   * undone by rolling the whole batch back and applying the journal's units again (recover()); the
   * guard's refusals all come before its writes, so that is for unexpected failures only.
   */
  const runUnit = (work: () => unknown) => {
    const value = work();
    if (typeof (value as { then?: unknown } | null)?.then === 'function') {
      throw new TypeError('A journaled unit cannot return a promise');
    }
    checkBatch();
    if (recorded.length > 0) append(recorded);
    return value;
  };

  /** Undoes a unit that wrote and then threw: the batch goes, and its journaled units come back. */
  function dropBatchUnder(): void {
    if (sqlite.inTransaction) st.rollback.run();
    open = false;
    if (units === 0) return; // nothing journaled since the last commit
    try {
      recover();
    } catch {
      // Owed: the next unit or commit tries again, and refuses until it works.
    }
  }

  return {
    replayed: opened.replayed,
    ...(opened.setAside && { setAside: opened.setAside }),
    get pending() {
      return units;
    },
    get batch() {
      return batches;
    },
    unit<T>(work: () => T): T {
      if (closed) throw new Error('The guard journal is closed');
      if (inUnit) throw new Error('Journaled units do not nest');
      // A batch SQLite dropped between units (or a recovery still owed) is dealt with first.
      if (stuck !== undefined || (open && !sqlite.inTransaction)) recover();
      if (!open) {
        st.begin.run();
        open = true;
        batches++;
      }
      inUnit = true;
      recorded = [];
      try {
        const value = runUnit(work) as T;
        units++;
        return value;
      } catch (err) {
        // The unit wrote before it failed, or SQLite rolled the whole batch back (disk full, I/O):
        // acknowledged units are applied again from the journal.
        if (open && (recorded.length > 0 || !sqlite.inTransaction)) {
          inUnit = false;
          dropBatchUnder();
        } else if (open && units === 0) {
          // A batch holding no unit would keep SQLite's write lock with nothing to commit.
          st.rollback.run();
          open = false;
        }
        throw err;
      } finally {
        inUnit = false;
        recorded = [];
      }
    },
    commit,
    close() {
      if (closed) return;
      try {
        commit();
      } finally {
        shutdown();
      }
    },
  };
}
