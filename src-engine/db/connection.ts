import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { replayLeftJournal, type JournalReplay } from './journal.ts';
import * as schema from './schema.ts';

export type Sqlite = Database.Database;
export type Db = BetterSQLite3Database<typeof schema>;

export interface DatabaseHandle {
  sqlite: Sqlite;
  db: Db;
  /** What opening did with a guard journal a dead engine left (db/journal.ts), if there was one. */
  leftJournal?: JournalReplay;
  close(): void;
}

export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

/**
 * Opens (creating if needed) the engine's SQLite file in WAL mode. `synchronous=NORMAL` keeps every
 * committed transaction through a crash of the process (the WAL is written before commit returns);
 * only a power loss can drop the last few, which is the usual desktop trade-off.
 */
export function openDatabase(
  file: string,
  opts: {
    migrate?: boolean;
    /** Apply a guard journal a dead engine left, first (default); the journaling engine does its own. */
    replayJournal?: boolean;
  } = {},
): DatabaseHandle {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const sqlite = new Database(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  // A checkpoint every 10,000 WAL pages instead of SQLite's 1,000: a stream of small commits (the
  // guard's sends) is 12-20 % faster and its p99 falls from ~3 ms to ~0.15 ms, for one ~25 ms
  // checkpoint every ~800 sends (bench/README.md, `guard`). After a checkpoint the WAL file is cut
  // back to 64 MiB.
  sqlite.pragma('wal_autocheckpoint = 10000');
  sqlite.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  // Savepoints (one per guarded command in a batch) keep their undo pages in memory, not a temp file.
  sqlite.pragma('temp_store = MEMORY');
  // Before migrations: the journal's statements were written for the schema it found.
  const leftJournal =
    file !== ':memory:' && (opts.replayJournal ?? true) ? replayLeftJournal(sqlite, file) : undefined;
  const db = drizzle(sqlite, { schema });
  if (opts.migrate ?? true) migrate(db, { migrationsFolder: MIGRATIONS_DIR });
  return { sqlite, db, ...(leftJournal && { leftJournal }), close: () => sqlite.close() };
}

/** Opens the file for `fn` and closes it after, also when `fn` throws (one-off work: the CLI, tests). */
export function withDatabase<T>(file: string, fn: (db: DatabaseHandle) => T): T {
  const db = openDatabase(file);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** Applies pending migrations; returns how many were applied. */
export function runMigrations(handle: DatabaseHandle): { applied: number; total: number } {
  const count = () =>
    (handle.sqlite.prepare(`SELECT count(*) AS n FROM __drizzle_migrations`).get() as { n: number }).n;
  const hasTable = handle.sqlite
    .prepare(`SELECT 1 FROM sqlite_master WHERE type='table' AND name='__drizzle_migrations'`)
    .get();
  const before = hasTable ? count() : 0;
  migrate(handle.db, { migrationsFolder: MIGRATIONS_DIR });
  const total = count();
  return { applied: total - before, total };
}
