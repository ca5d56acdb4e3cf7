// The embedded queue when it cannot store a job's outcome (here a trigger refuses the dead letter,
// as a full disk would): the worker logs it and goes on, and the job runs again, its attempt not spent.
import { afterEach, expect, it } from 'vitest';
import { createSqliteQueue } from '../../src-engine/queue/sqlite.ts';
import { tempDatabase } from '../support/temp-database.ts';
import { until } from '../support/process.ts';

let db: ReturnType<typeof tempDatabase>;
afterEach(() => db.dispose());

it('a failure to store an outcome is logged, not a crash, and the job runs again a second later', async () => {
  db = tempDatabase();
  const warnings: string[] = [];
  const queue = createSqliteQueue({
    sqlite: db.sqlite,
    leaseMs: 300,
    pollMs: 50,
    log: { warn: (_obj, msg) => warnings.push(msg ?? '') },
  });
  db.sqlite.exec(
    `CREATE TRIGGER refuse_dead BEFORE INSERT ON dead_letters BEGIN SELECT RAISE(ABORT, 'disk full'); END`,
  );
  await queue.add('t.fail', { n: 1 }, { attempts: 1 });
  let runs = 0;
  const worker = queue.process('t.fail', async () => {
    runs++;
    if (runs === 2) db.sqlite.exec(`DROP TRIGGER refuse_dead`); // the disk has room again
    throw new Error('handler failed');
  });
  try {
    await until(
      'the second run to bury the job',
      () =>
        runs >= 2 &&
        (db.sqlite.prepare(`SELECT count(*) AS n FROM dead_letters`).get() as { n: number }).n === 1,
      10_000,
    );
    expect(warnings).toContain('could not store a job outcome; it will run again');
    expect(runs).toBe(2);
  } finally {
    await worker.close();
    await queue.close();
  }
});
