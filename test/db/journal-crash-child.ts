// Child process for journal.test.ts: journals units in an open batch, then is killed (-9) by itself
// before the batch commits, as a crash would. Prints one line per acknowledged unit.
import { openDatabase } from '../../src-engine/db/connection.ts';
import { openWriteJournal } from '../../src-engine/db/journal.ts';

const [file, countArg] = process.argv.slice(2);
const { sqlite } = openDatabase(file!, { migrate: false, replayJournal: false });
const journal = openWriteJournal(sqlite, file!);
const insert = sqlite.prepare(`INSERT INTO items (id, n, blob, big) VALUES (?, ?, ?, ?)`);
const bump = sqlite.prepare(`UPDATE counter SET n = n + 1 WHERE id = 1`);
const nested = sqlite.transaction((id: string) => {
  insert.run(id, -1, null, null);
  throw new Error('nested failure');
});
// A unit that fails after writing, first: it leaves nothing (a later one would have its batch replayed
// and committed at once, and the crash below is meant to find the batch open).
try {
  journal.unit(() => {
    insert.run('failed-unit', 0, null, null);
    throw new Error('the whole unit fails');
  });
} catch {
  process.stdout.write('failed unit refused\n');
}
for (let i = 0; i < Number(countArg); i++) {
  journal.unit(() => {
    insert.run(`item-${i}`, i, Buffer.from([i % 256, 1, 2]), 2n ** 60n + BigInt(i));
    bump.run();
    // A nested transaction that fails and is handled inside the unit: rolled back, never replayed.
    try {
      nested(`nested-${i}`);
    } catch {
      /* handled */
    }
  });
  process.stdout.write(`acked ${i}\n`);
}
process.kill(process.pid, 'SIGKILL');
