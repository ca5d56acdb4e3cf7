import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src-engine/db/connection.ts';
import { openWriteJournal, readJournal } from '../../src-engine/db/journal.ts';

let dir: string;
let file: string;
const opened: { close(): void }[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agencia-journal-'));
  file = join(dir, 'engine.db');
  const db = new Database(file);
  db.exec(`CREATE TABLE items (id TEXT PRIMARY KEY, n INTEGER NOT NULL, blob BLOB, big INTEGER);
           CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
           INSERT INTO counter VALUES (1, 0);`);
  db.close();
});
afterEach(() => {
  for (const o of opened.splice(0)) o.close();
  rmSync(dir, { recursive: true, force: true });
});

function open(): DatabaseHandle & { journal: ReturnType<typeof openWriteJournal> } {
  const handle = openDatabase(file, { migrate: false, replayJournal: false });
  opened.push(handle);
  const journal = openWriteJournal(handle.sqlite, file);
  return { ...handle, journal };
}

/** What another process sees: a connection of its own, committed data only. */
function outside<T>(sql: string): T[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}
const itemIds = () => outside<{ id: string }>(`SELECT id FROM items ORDER BY n, id`).map((r) => r.id);
const journalText = () => readFileSync(`${file}.guard-log`, 'utf8');

/** A process that journals `units` units in an open batch and is killed (-9) before it commits. */
function crashWithUnits(units: number) {
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'journal-crash-child.ts'), file, String(units)],
    { encoding: 'utf8' },
  );
  expect(child.signal, child.stderr).toBe('SIGKILL');
  return child;
}

describe('the guard write journal', () => {
  it('acknowledges a unit once journaled; the batch commits later and empties the journal', () => {
    const { sqlite, journal } = open();
    const insert = sqlite.prepare(`INSERT INTO items (id, n) VALUES (?, ?)`);
    journal.unit(() => insert.run('a', 1));
    journal.unit(() => insert.run('b', 2));

    expect(journal.pending).toBe(2);
    // Same connection: read your writes. Another one: not committed yet, but in the journal.
    expect(sqlite.prepare(`SELECT count(*) AS n FROM items`).get()).toEqual({ n: 2 });
    expect(itemIds()).toEqual([]);
    expect(readJournal(journalText(), 0).map((u) => u.seq)).toEqual([1, 2]);

    journal.commit();
    expect(itemIds()).toEqual(['a', 'b']);
    expect(journalText()).toBe('');
    expect(outside(`SELECT applied_seq FROM guard_journal_state`)).toEqual([{ applied_seq: 2 }]);
  });

  it('a unit that throws leaves nothing, in SQLite or the journal', () => {
    const { sqlite, journal } = open();
    const insert = sqlite.prepare(`INSERT INTO items (id, n) VALUES (?, ?)`);
    journal.unit(() => insert.run('kept', 1));
    expect(() =>
      journal.unit(() => {
        insert.run('dropped', 2);
        throw new Error('refused');
      }),
    ).toThrow('refused');
    // It wrote before it threw: the batch was rolled back and 'kept' applied again from the journal
    // (and committed, so the journal starts afresh).
    expect(itemIds()).toEqual(['kept']);
    expect(journalText()).toBe('');
    // A statement that fails inside a unit that goes on is not recorded either.
    journal.unit(() => {
      expect(() => insert.run('kept', 3)).toThrow(/UNIQUE/);
      insert.run('also kept', 4);
    });
    expect(readJournal(journalText(), 0).flatMap((u) => u.writes.map((w) => w.args[0]))).toEqual([
      'also kept',
    ]);
    journal.commit();
    expect(itemIds()).toEqual(['kept', 'also kept']);
  });

  it('a batch whose only unit threw is not left open holding the write lock', () => {
    const { sqlite, journal } = open();
    const insert = sqlite.prepare(`INSERT INTO items (id, n) VALUES (?, ?)`);
    expect(() =>
      journal.unit(() => {
        throw new Error('refused before writing');
      }),
    ).toThrow('refused');
    expect(sqlite.inTransaction).toBe(false);
    expect(journal.pending).toBe(0);
    // Another process can write at once (a held lock would make it time out).
    const other = new Database(file, { timeout: 0 });
    try {
      other.prepare(`INSERT INTO items (id, n) VALUES ('other', 1)`).run();
    } finally {
      other.close();
    }
    journal.unit(() => insert.run('next', 2));
    journal.commit();
    expect(itemIds()).toEqual(['other', 'next']);
  });

  it('any other write of the process commits the open batch first, so it is never journaled or lost', () => {
    const { sqlite, journal } = open();
    const insert = sqlite.prepare(`INSERT INTO items (id, n) VALUES (?, ?)`);
    journal.unit(() => insert.run('unit', 1));

    insert.run('outside a unit', 2); // a plain statement
    expect(journal.pending).toBe(0);
    expect(itemIds()).toEqual(['unit', 'outside a unit']);
    expect(journalText()).toBe('');

    journal.unit(() => insert.run('unit 2', 3));
    sqlite.transaction(() => insert.run('in a transaction', 4))(); // a transaction of its own
    expect(itemIds()).toEqual(['unit', 'outside a unit', 'unit 2', 'in a transaction']);

    journal.unit(() => insert.run('unit 3', 5));
    sqlite.exec(`UPDATE counter SET n = 7`);
    expect(outside(`SELECT n FROM counter`)).toEqual([{ n: 7 }]);
    expect(itemIds()).toHaveLength(5);

    journal.unit(() => insert.run('unit 4', 6));
    sqlite.close(); // closing commits too
    expect(itemIds()).toHaveLength(6);
  });

  it('after kill -9 with a batch open, every acknowledged unit is replayed exactly once, and nothing else', () => {
    const child = crashWithUnits(40);
    expect(child.stdout.match(/^acked/gm)).toHaveLength(40);
    expect(child.stdout).toContain('failed unit refused');
    // The batch never committed: the database has none of it.
    expect(itemIds()).toEqual([]);

    const { sqlite, journal } = open();
    expect(journal.replayed).toBe(40);
    const rows = sqlite.prepare(`SELECT id, n, blob, big FROM items ORDER BY n`).safeIntegers().all() as {
      id: string;
      n: bigint;
      blob: Buffer;
      big: bigint;
    }[];
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 40 }, (_, i) => `item-${i}`));
    expect(rows[7]).toEqual({ id: 'item-7', n: 7n, blob: Buffer.from([7, 1, 2]), big: 2n ** 60n + 7n });
    expect(sqlite.prepare(`SELECT n FROM counter`).get()).toEqual({ n: 40 });
    expect(journalText()).toBe('');

    // Opening again replays nothing more.
    sqlite.close();
    expect(open().journal.replayed).toBe(0);
    expect(outside(`SELECT n FROM counter`)).toEqual([{ n: 40 }]);
  });

  it('a crash between the COMMIT and emptying the journal replays nothing twice', () => {
    const { sqlite, journal } = open();
    const bump = sqlite.prepare(`UPDATE counter SET n = n + 1`);
    for (let i = 0; i < 5; i++) journal.unit(() => bump.run());
    const before = journalText();
    journal.commit();
    sqlite.close();
    writeFileSync(`${file}.guard-log`, before); // as if the process died before the truncate

    expect(open().journal.replayed).toBe(0);
    expect(outside(`SELECT n FROM counter`)).toEqual([{ n: 5 }]);
  });

  it('ignores a torn last line (never acknowledged) and sets aside a journal it cannot apply, naming why', () => {
    const { sqlite, journal } = open();
    const insert = sqlite.prepare(`INSERT INTO items (id, n) VALUES (?, ?)`);
    journal.unit(() => insert.run('whole', 1));
    journal.unit(() => insert.run('torn', 2));
    const text = journalText();

    expect(readJournal(text.slice(0, -10), 0).map((u) => u.seq)).toEqual([1]);
    expect(() => readJournal(`{"q":1,"w":[[0,[]]]}\n`, 0)).toThrow(/unknown statement/);
    expect(() => readJournal(`not json\n${text}`, 0)).toThrow(/line 1 is not valid JSON/);

    // Units that do not follow the database's last one (its last commit was lost to a power cut, or
    // the file belongs to another database) cannot be applied in order: set aside, not applied.
    journal.commit();
    sqlite.close();
    writeFileSync(`${file}.guard-log`, text.replace('"q":2', '"q":9'));
    const reopened = open().journal;
    expect(reopened.replayed).toBe(0);
    expect(reopened.setAside?.reason).toMatch(/unit 9 follows unit 2: units are missing/);
    expect(readFileSync(reopened.setAside!.file, 'utf8')).toContain('"q":9');
    expect(itemIds()).toEqual(['whole', 'torn']);
  });

  it('applies the units before one the database refuses, and sets the journal aside from there', () => {
    const { sqlite, journal } = open();
    const insert = sqlite.prepare(`INSERT INTO items (id, n) VALUES (?, ?)`);
    for (const [id, n] of [
      ['one', 1],
      ['two', 2],
      ['three', 3],
    ] as const)
      journal.unit(() => insert.run(id, n));
    const text = journalText();
    sqlite.close(); // commits them
    // A fresh database where 'two' exists already (as a unit applied by some other path would leave it).
    for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
    const db = new Database(file);
    db.exec(`CREATE TABLE items (id TEXT PRIMARY KEY, n INTEGER NOT NULL, blob BLOB, big INTEGER);
             CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
             INSERT INTO items (id, n) VALUES ('two', 0);`);
    db.close();
    writeFileSync(`${file}.guard-log`, text);

    const reopened = open().journal;
    expect(reopened.replayed).toBe(1);
    expect(reopened.setAside?.reason).toMatch(/unit 2 was refused: UNIQUE/);
    expect(itemIds().sort()).toEqual(['one', 'two']);
    expect(outside(`SELECT applied_seq FROM guard_journal_state`)).toEqual([{ applied_seq: 1 }]);
  });

  it('another opener (the CLI) applies a journal a dead engine left, before migrating; never a live one', () => {
    crashWithUnits(3);

    // While an engine holds the data dir, its journal is its own.
    writeFileSync(join(dir, 'engine.lock'), `${process.pid}\n`);
    const live = openDatabase(file, { migrate: false });
    expect(live.leftJournal).toBeUndefined();
    live.close();
    expect(itemIds()).toEqual([]);
    rmSync(join(dir, 'engine.lock'));

    // The engine is gone: the opener applies the journal and leaves the data dir unlocked again.
    const cli = openDatabase(file);
    opened.push(cli);
    expect(cli.leftJournal).toEqual({ replayed: 3 });
    expect(itemIds()).toEqual(['item-0', 'item-1', 'item-2']);
    expect(journalText()).toBe('');
    expect(existsSync(join(dir, 'engine.lock'))).toBe(false);
    // Migrated after: the engine's tables are there.
    expect(outside(`SELECT count(*) AS n FROM __drizzle_migrations`)).not.toEqual([{ n: 0 }]);
  });

  it('stores what JSON cannot: undefined named parameters, non-finite numbers', () => {
    const { sqlite, journal } = open();
    const insert = sqlite.prepare(`INSERT INTO items (id, n, blob, big) VALUES (@id, @n, @blob, @big)`);
    journal.unit(() => insert.run({ id: 'odd', n: 1, blob: undefined, big: Infinity }));
    // What a replay would bind is what SQLite was given: undefined binds as NULL.
    expect(readJournal(journalText(), 0)[0]!.writes[0]!.args).toEqual([
      { id: 'odd', n: 1, blob: null, big: Infinity },
    ]);
    journal.commit();
    expect(outside(`SELECT id, blob, big FROM items`)).toEqual([{ id: 'odd', blob: null, big: Infinity }]);
  });

  it('refuses what cannot be journaled inside a unit: a promise, exec, transaction control', async () => {
    const { sqlite, journal } = open();
    const insert = sqlite.prepare(`INSERT INTO items (id, n) VALUES (?, ?)`);
    const begin = sqlite.prepare('SAVEPOINT mine');
    expect(() =>
      journal.unit(() => {
        insert.run('async', 1);
        return Promise.resolve();
      }),
    ).toThrow(/cannot return a promise/);
    expect(() => journal.unit(() => sqlite.exec(`DELETE FROM items`))).toThrow(/inside a journaled unit/);
    expect(() => journal.unit(() => begin.run())).toThrow(/inside a journaled unit/);
    const commented = sqlite.prepare('/* hidden */ COMMIT');
    expect(() => journal.unit(() => commented.run())).toThrow(/inside a journaled unit/);
    expect(journalText()).toBe('');
    expect(journal.pending).toBe(0);
    // A unit that catches SQLite rolling the batch back, and goes on, is stopped before it writes more.
    expect(() =>
      journal.unit(() => {
        insert.run('first', 0);
        try {
          sqlite.prepare(`INSERT OR ROLLBACK INTO items (id, n) VALUES ('first', 0)`).run();
        } catch {
          insert.run('after the rollback', 0);
        }
      }),
    ).toThrow(/rolled back under this unit/);
    expect(journalText()).toBe('');
    expect(itemIds()).toEqual([]);

    // Outside a unit, transaction control first commits the open batch.
    journal.unit(() => insert.run('kept', 2));
    begin.run();
    sqlite.prepare('RELEASE mine').run();
    expect(itemIds()).toEqual(['kept']);
  });

  it('when SQLite drops a batch and applying it again fails, refuses new units until it can, losing nothing', () => {
    const { sqlite, journal } = open();
    const insert = sqlite.prepare(`INSERT INTO items (id, n) VALUES (?, ?)`);
    journal.unit(() => insert.run('a', 1));
    // The journal cannot be read back for now (here: something else sits at its path).
    const log = `${file}.guard-log`;
    renameSync(log, `${log}.moved`);
    mkdirSync(log);
    expect(() =>
      journal.unit(() => {
        // OR ROLLBACK: SQLite itself rolls the whole batch back, as on e.g. a full disk.
        sqlite.prepare(`INSERT OR ROLLBACK INTO items (id, n) VALUES ('a', 2)`).run();
      }),
    ).toThrow(/UNIQUE/);
    expect(() => journal.unit(() => insert.run('b', 3))).toThrow(/Commands cannot be stored right now/);
    // Nor may any other write of the process go ahead of the answered units.
    expect(() => insert.run('outside', 5)).toThrow(/Commands cannot be stored right now/);
    expect(itemIds()).toEqual([]);

    rmdirSync(log);
    renameSync(`${log}.moved`, log);
    journal.unit(() => insert.run('c', 4)); // applies 'a' again first
    journal.commit();
    expect(itemIds()).toEqual(['a', 'c']);
  });
});
