import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../db/connection.ts';
import { openWriteJournal } from '../db/journal.ts';
import { createCommitEmitter, createEventBus } from '../events.ts';
import { tempDatabase } from '../../test/support/temp-database.ts';
import { createGroupCommit, type GroupCommit } from './group-commit.ts';

let db: ReturnType<typeof tempDatabase>;
/** A second connection on the same file: it sees only what was committed. */
let other: DatabaseHandle;
let group: GroupCommit;
let txEvents: ReturnType<typeof createCommitEmitter<string>>;
/** Each emitted event, with the rows another connection could see at that moment. */
let seen: { event: string; committedRows: number }[];

const committedRows = () => (other.sqlite.prepare(`SELECT count(*) AS n FROM t`).get() as { n: number }).n;

beforeEach(() => {
  db = tempDatabase();
  db.sqlite.exec(`CREATE TABLE t (id TEXT PRIMARY KEY)`);
  other = openDatabase(db.file, { migrate: false });
  seen = [];
  const bus = createEventBus<string>();
  bus.on((event) => seen.push({ event, committedRows: committedRows() }));
  txEvents = createCommitEmitter(bus, () => db.sqlite.inTransaction);
  group = createGroupCommit({ sqlite: db.sqlite, events: txEvents });
});
afterEach(() => {
  other.close();
  db.dispose();
});

const insert = (id: string) => {
  db.sqlite.prepare(`INSERT INTO t (id) VALUES (?)`).run(id);
  txEvents.emit(`inserted ${id}`);
  return id;
};

describe('group commit', () => {
  it('commits units submitted together in one transaction and emits their events after it', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    expect(await Promise.all(ids.map((id) => group.run(() => insert(id))))).toEqual(ids);
    // The first event was emitted when all five rows were already visible to another connection.
    expect(seen).toEqual(ids.map((id) => ({ event: `inserted ${id}`, committedRows: 5 })));
  });

  it('rolls back only the unit that throws, with its events; the others commit', async () => {
    const results = await Promise.allSettled([
      group.run(() => insert('a')),
      group.run(() => {
        insert('b');
        throw new Error('b fails after writing and emitting');
      }),
      group.run(() => insert('a')), // primary key conflict: fails inside SQLite
      group.run(() => insert('c')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ message: /b fails/ });
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({
      code: 'SQLITE_CONSTRAINT_PRIMARYKEY',
    });
    expect(other.sqlite.prepare(`SELECT id FROM t ORDER BY id`).pluck().all()).toEqual(['a', 'c']);
    expect(seen.map((s) => s.event)).toEqual(['inserted a', 'inserted c']);
  });

  it('a lone unit that throws leaves nothing and emits nothing', async () => {
    await expect(
      group.run(() => {
        insert('x');
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    expect(committedRows()).toBe(0);
    expect(seen).toEqual([]);
    expect(db.sqlite.inTransaction).toBe(false);
  });

  it('when SQLite drops the whole transaction, every unit of the batch fails and nothing is emitted', async () => {
    const results = await Promise.allSettled([
      group.run(() => insert('a')),
      group.run(() => {
        insert('b');
        db.sqlite.exec('ROLLBACK'); // what SQLite does itself on e.g. a full disk
        throw new Error('transaction lost');
      }),
      group.run(() => insert('c')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(committedRows()).toBe(0);
    expect(seen).toEqual([]);
    expect(db.sqlite.inTransaction).toBe(false);
  });

  it('splits a burst larger than maxBatch into several transactions, all committed', async () => {
    const small = createGroupCommit({ sqlite: db.sqlite, events: txEvents, maxBatch: 3 });
    const ids = Array.from({ length: 7 }, (_, i) => `id${i}`);
    await Promise.all(ids.map((id) => small.run(() => insert(id))));
    // Three batches: the events of the first were emitted when only its three rows were committed.
    expect(seen.map((s) => s.committedRows)).toEqual([3, 3, 3, 6, 6, 6, 7]);
  });
});

describe('group commit with a write journal', () => {
  const turn = () => new Promise((r) => setImmediate(r));
  const journaled = (opts: { maxBatch?: number; maxDelayMs?: number; now?: () => number } = {}) => {
    const journal = openWriteJournal(db.sqlite, db.file);
    const errors: unknown[] = [];
    const g = createGroupCommit({
      sqlite: db.sqlite,
      events: txEvents,
      journal,
      onCommitError: (e) => errors.push(e),
      ...opts,
    });
    return { g, journal, errors };
  };

  it('settles each unit, with its events, once journaled; the batch commits when a turn brings nothing new', async () => {
    const { g, journal } = journaled();
    expect(await g.run(() => insert('a'))).toBe('a');
    expect(await g.run(() => insert('b'))).toBe('b');
    // Answered and announced before any COMMIT: another connection sees nothing yet.
    expect(seen).toEqual([
      { event: 'inserted a', committedRows: 0 },
      { event: 'inserted b', committedRows: 0 },
    ]);
    expect(journal.pending).toBe(2);
    await turn();
    await turn();
    expect(committedRows()).toBe(2);
    expect(journal.pending).toBe(0);
  });

  it('keeps the batch open while every turn brings new units, up to maxDelayMs', async () => {
    let clock = 0;
    const { g, journal } = journaled({ maxDelayMs: 5, now: () => clock });
    const two = (i: number) => Promise.all([g.run(() => insert(`x${i}`)), g.run(() => insert(`y${i}`))]);
    await two(0);
    for (let i = 1; i < 4; i++) {
      await turn(); // a steady stream: new units on every turn of the event loop
      clock += 1;
      await two(i);
    }
    expect(committedRows()).toBe(0);
    expect(journal.pending).toBe(8);
    clock += 5; // the batch is now older than maxDelayMs
    await turn();
    expect(committedRows()).toBe(8);
  });

  it('commits at once at maxBatch units; a unit that throws before writing leaves the batch as it was', async () => {
    const { g, journal } = journaled({ maxBatch: 3 });
    await g.run(() => insert('a'));
    await expect(
      g.run(() => {
        throw new Error('b is refused');
      }),
    ).rejects.toThrow('b is refused');
    await g.run(() => insert('c'));
    expect([committedRows(), journal.pending]).toEqual([0, 2]);
    await g.run(() => insert('d')); // the third kept unit
    expect(committedRows()).toBe(3);
    expect(seen.map((e) => e.event)).toEqual(['inserted a', 'inserted c', 'inserted d']);
  });

  it('a unit that throws after writing leaves nothing and emits nothing; the units before it stay', async () => {
    const { g, journal } = journaled({ maxBatch: 10 });
    await g.run(() => insert('a'));
    await g.run(() => insert('b'));
    await expect(
      g.run(() => {
        insert('c');
        throw new Error('c fails after writing and emitting');
      }),
    ).rejects.toThrow('c fails');
    // Without a savepoint per unit, the batch went and its journaled units were applied again.
    expect(other.sqlite.prepare(`SELECT id FROM t ORDER BY id`).pluck().all()).toEqual(['a', 'b']);
    expect(journal.pending).toBe(0);
    await g.run(() => insert('d'));
    await turn();
    await turn();
    expect(other.sqlite.prepare(`SELECT id FROM t ORDER BY id`).pluck().all()).toEqual(['a', 'b', 'd']);
    expect(seen.map((e) => e.event)).toEqual(['inserted a', 'inserted b', 'inserted d']);
  });

  it('a failing COMMIT is retried after 1 s, then 2 s, 4 s...; new units neither commit nor log meanwhile', async () => {
    // A deferred foreign key fails at COMMIT and leaves the batch open: a COMMIT that keeps failing.
    db.sqlite.exec(`CREATE TABLE p (id TEXT PRIMARY KEY);
      CREATE TABLE c (pid TEXT REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED)`);
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    try {
      const { g, errors } = journaled({ maxBatch: 2 });
      const child = () => db.sqlite.prepare(`INSERT INTO c (pid) VALUES ('x')`).run().changes;
      const parent = () => db.sqlite.prepare(`INSERT INTO p (id) VALUES ('x')`).run().changes;
      await g.run(child);
      await turn();
      await turn();
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ code: 'SQLITE_CONSTRAINT_FOREIGNKEY' });
      // Units still join the open batch, but reaching maxBatch does not commit (or log) before the timer.
      await g.run(() => insert('a'));
      await g.run(() => insert('b'));
      await turn();
      expect(errors).toHaveLength(1);
      vi.advanceTimersByTime(1_000);
      expect(errors).toHaveLength(2);
      vi.advanceTimersByTime(1_999);
      expect(errors).toHaveLength(2);
      vi.advanceTimersByTime(1);
      expect(errors).toHaveLength(3);
      expect(committedRows()).toBe(0);
      await g.run(parent);
      vi.advanceTimersByTime(4_000);
      expect(errors).toHaveLength(3);
      expect(committedRows()).toBe(2);
      expect(other.sqlite.prepare(`SELECT count(*) FROM c`).pluck().get()).toBe(1);
      // The wait starts at 1 s again after a success.
      await g.run(() => db.sqlite.prepare(`INSERT INTO c (pid) VALUES ('y')`).run());
      await turn();
      await turn();
      expect(errors).toHaveLength(4);
      vi.advanceTimersByTime(999);
      expect(errors).toHaveLength(4);
      vi.advanceTimersByTime(1);
      expect(errors).toHaveLength(5);
      // Committed by another write of the process meanwhile: the next batches commit as usual at once.
      await g.run(() => db.sqlite.prepare(`INSERT INTO p (id) VALUES ('y')`).run());
      db.sqlite.prepare(`INSERT INTO t (id) VALUES ('z')`).run(); // outside a unit: commits the batch first
      await g.run(() => insert('d'));
      await g.run(() => insert('e')); // maxBatch
      expect(committedRows()).toBe(5);
      expect(errors).toHaveLength(5);
    } finally {
      vi.useRealTimers();
    }
  });

  it('when SQLite drops the batch, the acknowledged units are applied again from the journal', async () => {
    const { g } = journaled();
    await g.run(() => insert('a'));
    await expect(
      g.run(() => {
        insert('b');
        // OR ROLLBACK: SQLite itself rolls the whole batch back, as on e.g. a full disk.
        db.sqlite.prepare(`INSERT OR ROLLBACK INTO t (id) VALUES ('a')`).run();
      }),
    ).rejects.toThrow(/UNIQUE/);
    await g.run(() => insert('c'));
    await turn();
    await turn();
    expect(other.sqlite.prepare(`SELECT id FROM t ORDER BY id`).pluck().all()).toEqual(['a', 'c']);
  });
});
