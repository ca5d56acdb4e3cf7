import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  const handle = openDatabase(file, { migrate: false });
  opened.push(handle);
  const journal = openWriteJournal(handle.sqlite, `${file}.guard-log`);
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
    // A statement that fails inside a unit that goes on is not recorded either.
    journal.unit(() => {
      expect(() => insert.run('kept', 3)).toThrow(/UNIQUE/);
      insert.run('also kept', 4);
    });
    expect(readJournal(journalText(), 0).flatMap((u) => u.writes.map((w) => w.args[0]))).toEqual([
      'kept',
      'also kept',
    ]);
    journal.commit();
    expect(itemIds()).toEqual(['kept', 'also kept']);
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
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'journal-crash-child.ts'), file, '40'],
      { encoding: 'utf8' },
    );
    expect(child.signal, child.stderr).toBe('SIGKILL');
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

  it('ignores a torn last line (never acknowledged) and refuses a damaged or foreign journal', () => {
    const { sqlite, journal } = open();
    const insert = sqlite.prepare(`INSERT INTO items (id, n) VALUES (?, ?)`);
    journal.unit(() => insert.run('whole', 1));
    journal.unit(() => insert.run('torn', 2));
    const text = journalText();
    const saved = join(dir, 'saved-log');
    copyFileSync(`${file}.guard-log`, saved);

    expect(readJournal(text.slice(0, -10), 0).map((u) => u.seq)).toEqual([1]);
    expect(() => readJournal(`{"q":1,"w":[[0,[]]]}\n`, 0)).toThrow(/unknown statement/);
    expect(() => readJournal(`not json\n${text}`, 0)).toThrow(/line 1 is not valid JSON/);

    // Units that do not follow the database's last applied one belong to another database.
    journal.commit();
    const applied = readJournal(readFileSync(saved, 'utf8'), 0);
    expect(applied.map((u) => u.seq)).toEqual([1, 2]);
    const foreign = readFileSync(saved, 'utf8').replace('"q":2', '"q":9');
    sqlite.close();
    writeFileSync(`${file}.guard-log`, foreign);
    expect(() => open()).toThrow(/skips from unit 2 to 9/);
  });
});
