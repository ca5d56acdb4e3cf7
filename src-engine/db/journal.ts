import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { Statement } from 'better-sqlite3';
import type { Sqlite } from './connection.ts';

/*
 * The guard's write journal: how a guarded command is acknowledged without a SQLite COMMIT of its own.
 *
 * A COMMIT writes every page the command touched to the WAL (13 or so per send: the message, the job,
 * the hold and their indexes), which costs more than all the rest of the guard. Here commands run as
 * *units* inside one long SQLite transaction (the batch), and each unit is made durable by appending
 * the SQL statements it wrote, with their parameters, as one line to an append-only file next to the
 * database: one small write() instead of a dozen page writes. The unit is answered after that write.
 * The batch is committed later (when the event loop turns, after `maxBatch` units, before any other
 * write of this process, and at close), with the number of the last unit it holds; then the journal is
 * emptied. After a crash the open batch is gone from SQLite but its units are in the journal: opening
 * the journal replays every unit numbered after the last committed one, in order, before the engine
 * does anything else.
 *
 * Why statements and not commands: replaying the recorded writes gives back exactly what was answered,
 * whatever the clock, the ids or the code that decided them. Two rules keep that true:
 * - a unit's writes must depend only on the database and its own parameters (use SQL such as
 *   `last_insert_rowid()` rather than passing back a rowid read from an earlier statement);
 * - nothing else may write while a batch is open. Other writers of this process are made to commit the
 *   batch first (the connection is wrapped: statements, transactions, exec, pragma, close); other
 *   processes wait for SQLite's write lock, which the batch holds. Only the engine that holds the data
 *   directory's lock journals, so it is the only one that replays.
 *
 * Durability is that of the WAL with `synchronous=NORMAL` (db/connection.ts): an acknowledged unit
 * survives a crash of the process; a power loss may drop the last ones.
 */

export interface WriteJournal {
  /**
   * Runs `work` as one unit of the open batch (opening one if needed), in its own savepoint: its writes
   * are journaled before it returns. If it throws, it leaves nothing, in SQLite or the journal.
   */
  unit<T>(work: () => T): T;
  /** Commits the open batch, if any, and empties the journal. */
  commit(): void;
  /** Units in the open batch. */
  readonly pending: number;
  /** Commits, then closes the journal file (the connection stays open). */
  close(): void;
}

export interface JournalReplay {
  /** Units replayed from the journal when it was opened. */
  replayed: number;
}

type Args = unknown[];
interface Write {
  sql: string;
  args: Args;
}

const STATE_TABLE = 'guard_journal_state';

/** Statement parameters back from JSON: Buffers and bigints were stored as tagged objects. */
function revive(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(revive);
  if (value === null || typeof value !== 'object') return value;
  const o = value as Record<string, unknown>;
  if (o.type === 'Buffer' && Array.isArray(o.data)) return Buffer.from(o.data as number[]);
  if (typeof o.$bigint === 'string') return BigInt(o.$bigint);
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, revive(v)]));
}

const bigints = (_key: string, v: unknown) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v);

/** One unit's line. JSON.stringify has no bigint: the rare parameter that is one is tagged. */
function encode(seq: number, writes: [number, Args][]): string {
  const rec = { q: seq, w: writes };
  try {
    return `${JSON.stringify(rec)}\n`;
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    return `${JSON.stringify(rec, bigints)}\n`;
  }
}

/** The units of a journal file after `applied`, in order; a torn last line was never acknowledged. */
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
      throw new Error(`Guard journal line ${i + 1} is not valid JSON; the journal is damaged`);
    }
    if (typeof rec.d === 'number' && typeof rec.sql === 'string') {
      sqlById.set(rec.d, rec.sql);
      continue;
    }
    if (typeof rec.q !== 'number' || !Array.isArray(rec.w)) {
      throw new Error(`Guard journal line ${i + 1} is not a unit`);
    }
    if (rec.q <= applied) continue;
    const writes = rec.w.map(([id, args]) => {
      const sql = sqlById.get(id);
      if (sql === undefined) throw new Error(`Guard journal line ${i + 1} names unknown statement ${id}`);
      return { sql, args: revive(args) as Args };
    });
    units.push({ seq: rec.q, writes });
  }
  return units;
}

/**
 * Opens the journal `file` for `sqlite` (the engine's one connection, right after it is opened):
 * replays what a crash left, then wraps the connection so that writes outside a unit commit the open
 * batch first. Call it once per connection, before anything prepares statements on it.
 */
export function openWriteJournal(sqlite: Sqlite, file: string): WriteJournal & JournalReplay {
  sqlite.exec(
    `CREATE TABLE IF NOT EXISTS ${STATE_TABLE} (id INTEGER PRIMARY KEY CHECK (id = 1), applied_seq INTEGER NOT NULL);
     INSERT OR IGNORE INTO ${STATE_TABLE} (id, applied_seq) VALUES (1, 0);`,
  );
  const prepare = sqlite.prepare.bind(sqlite);
  const st = {
    applied: prepare(`SELECT applied_seq AS n FROM ${STATE_TABLE} WHERE id = 1`).pluck(),
    setApplied: prepare(`UPDATE ${STATE_TABLE} SET applied_seq = ? WHERE id = 1`),
    begin: prepare('BEGIN IMMEDIATE'),
    commit: prepare('COMMIT'),
  };

  let seq = st.applied.get() as number;

  /** Applies the file's units after applied_seq in one transaction; how many there were. */
  function replayFile(): number {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const applied = st.applied.get() as number;
    const lost = readJournal(text, applied);
    lost.forEach((u, i) => {
      if (u.seq !== applied + 1 + i) {
        throw new Error(
          `Guard journal ${file} skips from unit ${applied + i} to ${u.seq}: it does not belong to this database`,
        );
      }
    });
    if (lost.length === 0) return 0;
    const cache = new Map<string, Statement>();
    origTransaction
      .call(sqlite, () => {
        for (const u of lost) {
          for (const w of u.writes) {
            let s = cache.get(w.sql);
            if (!s) cache.set(w.sql, (s = prepare(w.sql)));
            s.run(...w.args);
          }
        }
        st.setApplied.run(lost.at(-1)!.seq);
      })
      .immediate();
    seq = lost.at(-1)!.seq;
    return lost.length;
  }

  const origTransaction = sqlite.transaction;
  const replayed = replayFile();
  const fd = openSync(file, 'a');
  ftruncateSync(fd, 0);
  /** Bytes in the journal file: a failed append is cut off again, never left half-written. */
  let size = 0;

  // --- the batch ----------------------------------------------------------------------------
  let open = false;
  let inUnit = false;
  let units = 0;
  let recorded: [string, Args][] = [];
  /** SQL text -> its number in the current journal file (written once per file, before first use). */
  let defined = new Map<string, number>();
  let closed = false;

  function emptyJournal(): void {
    ftruncateSync(fd, 0);
    size = 0;
    defined = new Map();
  }

  function commit(): void {
    if (!open) return;
    if (!sqlite.inTransaction) return recover();
    try {
      st.setApplied.run(seq);
      st.commit.run();
    } catch (err) {
      if (sqlite.inTransaction) throw err; // still open (e.g. busy): the next commit tries again
      return recover();
    }
    open = false;
    units = 0;
    // Everything in the journal is in the database now. A crash before this truncate leaves lines the
    // next start skips (their numbers are not after applied_seq).
    emptyJournal();
  }

  /**
   * SQLite rolled the whole batch back (disk full, I/O error): its acknowledged units are only in
   * the journal, so they are applied again from there, as at start-up. If that fails too, they stay
   * in the journal for the next start.
   */
  function recover(): void {
    open = false;
    units = 0;
    replayFile();
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
      return [id, args];
    });
    const buf = Buffer.from(head + encode(seq + 1, refs));
    try {
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off);
    } catch (err) {
      ftruncateSync(fd, size);
      throw err;
    }
    size += buf.length;
    for (const [sql, id] of fresh) defined.set(sql, id);
    seq++;
  }

  // --- wrapping the connection ---------------------------------------------------------------
  const barrier = () => {
    if (open && !inUnit) commit();
  };
  const origPrepare = sqlite.prepare;
  sqlite.prepare = function (this: Sqlite, source: string) {
    const stmt = origPrepare.call(this, source) as Statement;
    if (stmt.readonly) return stmt;
    for (const method of ['run', 'get', 'all', 'iterate'] as const) {
      const orig = stmt[method] as (...a: Args) => unknown;
      (stmt as unknown as Record<string, unknown>)[method] = function (this: Statement, ...args: Args) {
        barrier();
        const result = orig.apply(this, args);
        if (inUnit) recorded.push([source, args]);
        return result;
      };
    }
    return stmt;
  } as Sqlite['prepare'];

  sqlite.transaction = function (this: Sqlite, fn: (...a: Args) => unknown) {
    const tx = origTransaction.call(this, fn);
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
      if (!inUnit) barrier();
      else if (method !== 'pragma') throw new Error(`sqlite.${method} inside a journaled unit`);
      return orig.apply(this, args);
    };
  }

  const unitTx = origTransaction.call(sqlite, (work: () => unknown) => {
    const value = work();
    if (recorded.length > 0) append(recorded);
    return value;
  });

  return {
    replayed,
    get pending() {
      return units;
    },
    unit<T>(work: () => T): T {
      if (closed) throw new Error('The guard journal is closed');
      if (inUnit) throw new Error('Journaled units do not nest');
      if (!open) {
        st.begin.run();
        open = true;
      }
      inUnit = true;
      recorded = [];
      try {
        const value = unitTx(work) as T;
        units++;
        return value;
      } catch (err) {
        // Some errors (disk full, I/O) make SQLite roll back the whole batch, acknowledged units too.
        if (open && !sqlite.inTransaction) {
          try {
            recover();
          } catch {
            // They stay in the journal; the next start applies them.
          }
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
      commit();
      closed = true;
      closeSync(fd);
    },
  };
}
