// A child process for concurrency.test.ts: hammers reserve/capture/release on one org in a shared
// SQLite file. Usage: node --import tsx concurrency.worker.ts <dbFile> <orgId> <iterations> <seed>
import { openDatabase } from '../db/connection.ts';
import { AppError } from '../errors.ts';
import { createLedger } from './ledger.ts';

const [file, orgId, iterationsArg, seedArg] = process.argv.slice(2);
if (!file || !orgId) throw new Error('usage: <dbFile> <orgId> <iterations> <seed>');
const iterations = Number(iterationsArg ?? 200);
let seed = Number(seedArg ?? 1) >>> 0 || 1;
const random = () => {
  // xorshift32: reproducible per worker
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed / 2 ** 32;
};

const handle = openDatabase(file, { migrate: false });
const ledger = createLedger({ sqlite: handle.sqlite });
// Start barrier: say "ready" on stderr, wait for the parent's "go" on stdin, so all processes overlap.
process.stderr.write('ready\n');
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
process.stdin.pause();

const stats = {
  startedAt: Date.now(),
  endedAt: 0,
  minAvailable: Number.MAX_SAFE_INTEGER,
  reserved: 0,
  insufficient: 0,
  conflicts: 0,
  captured: 0,
  released: 0,
  resolved: [] as string[],
};
const open: string[] = [];
const pendingOfOthers = handle.sqlite.prepare<[string], { id: string }>(
  `SELECT id FROM reservations WHERE org_id = ? AND state = 'pending' ORDER BY random() LIMIT 1`,
);

function resolve(id: string) {
  try {
    if (random() < 0.6) {
      const held = ledger.getReservation(id)!.amountMicro;
      ledger.capture(id, Math.floor(held * random()), random() < 0.5 ? 'USAGE_MESSAGE' : 'USAGE_AGENT');
      stats.captured++;
    } else {
      ledger.release(id);
      stats.released++;
    }
    stats.resolved.push(id);
  } catch (err) {
    if (err instanceof AppError && err.code === 'CONFLICT') stats.conflicts++;
    else throw err;
  }
}

for (let i = 0; i < iterations; i++) {
  try {
    const r = ledger.reserve(orgId, 100_000 + Math.floor(random() * 900_000), 60_000, {
      jobId: `w${process.pid}`,
    });
    open.push(r.id);
    stats.reserved++;
  } catch (err) {
    if (err instanceof AppError && err.code === 'INSUFFICIENT_CREDITS') stats.insufficient++;
    else throw err;
  }
  stats.minAvailable = Math.min(stats.minAvailable, ledger.balance(orgId).availableMicro);
  // Keep a few holds open so they overlap with other processes' holds.
  while (open.length > 3) resolve(open.shift()!);
  // Now and then race another process for one of its holds (at most one of us may win).
  if (random() < 0.2) {
    const other = pendingOfOthers.get(orgId);
    if (other) resolve(other.id);
  }
  // And now and then resolve one of ours twice: the second must be a CONFLICT.
  if (random() < 0.05 && stats.resolved.length > 0) resolve(stats.resolved[stats.resolved.length - 1]!);
}
while (open.length > 0) resolve(open.shift()!);
stats.endedAt = Date.now();
handle.close();
process.stdout.write(JSON.stringify(stats));
