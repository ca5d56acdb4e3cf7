/**
 * Child process of the queue bench (bench/queue.ts spawns it with --expose-gc): how much RSS do
 * N waiting jobs add to a process that runs the embedded queue? Runs alone in its own process so
 * nothing else the bench does (BullMQ, earlier rounds) is in the figure.
 *
 * usage: node --expose-gc --import tsx bench/queue-memory-child.ts <dir> <jobs>
 * Adds <jobs> jobs, measures, then adds <jobs> more and measures again (the slope shows whether
 * the jobs themselves cost memory). Prints one line `RESULT <json>` on stdout.
 */
import { join } from 'node:path';
import { openDatabase } from '../src-engine/db/connection.ts';
import { createSqliteQueue } from '../src-engine/queue/sqlite.ts';
import type { BulkItem } from '../src-engine/queue/port.ts';

const QUEUE = 'bench.noop';
const BATCH = 1_000;
const MB = 1024 * 1024;

export interface MemoryResult {
  jobs: number;
  /** Waiting rows at the end: warm-up + 2 x jobs. */
  waiting: number;
  warmup: number;
  rssBeforeMb: number;
  rssAfterMb: number;
  rssDeltaMb: number;
  /** RSS after adding the same number of jobs a second time: if the jobs lived in memory it would grow again. */
  rssAfterSecondMb: number;
  peakRssMb: number;
  heapUsedBeforeMb: number;
  heapUsedAfterMb: number;
  dbFileMb: number;
  gcExposed: boolean;
  addMs: number;
}

const gc = (globalThis as { gc?: () => void }).gc;

/** Full GC twice with a turn of the event loop between, so finalisers and freed pages settle. */
async function settle(): Promise<void> {
  for (let i = 0; i < 2; i++) {
    gc?.();
    await new Promise((r) => setImmediate(r));
  }
}

async function addJobs(
  add: (items: BulkItem[]) => Promise<unknown>,
  from: number,
  count: number,
): Promise<void> {
  for (let i = from; i < from + count; i += BATCH) {
    const items: BulkItem[] = [];
    for (let j = i; j < Math.min(i + BATCH, from + count); j++) items.push({ queue: QUEUE, data: { i: j } });
    await add(items);
  }
}

async function main(): Promise<void> {
  const [dir, jobsArg] = process.argv.slice(2);
  if (!dir || !jobsArg) throw new Error('usage: queue-memory-child.ts <dir> <jobs>');
  const jobs = Number(jobsArg);
  const file = join(dir, 'memory.db');
  const handle = openDatabase(file);
  const queue = createSqliteQueue({ sqlite: handle.sqlite, exclusive: true });
  try {
    // Warm-up: the same code path once, so JIT code, prepared statements and SQLite's page cache
    // (bounded by cache_size) are part of the baseline, not of the delta.
    await addJobs((items) => queue.addBulk(items), 0, 2 * BATCH);
    await settle();
    const before = process.memoryUsage();

    const t0 = performance.now();
    await addJobs((items) => queue.addBulk(items), 2 * BATCH, jobs);
    const addMs = performance.now() - t0;
    await settle();
    const after = process.memoryUsage();

    await addJobs((items) => queue.addBulk(items), 2 * BATCH + jobs, jobs);
    await settle();
    const second = process.memoryUsage();

    const counts = await queue.counts(QUEUE);
    const pageCount = handle.sqlite.pragma('page_count', { simple: true }) as number;
    const pageSize = handle.sqlite.pragma('page_size', { simple: true }) as number;
    const result: MemoryResult = {
      jobs,
      waiting: counts.waiting,
      warmup: 2 * BATCH,
      rssBeforeMb: before.rss / MB,
      rssAfterMb: after.rss / MB,
      rssDeltaMb: (after.rss - before.rss) / MB,
      rssAfterSecondMb: second.rss / MB,
      // maxRSS is in KiB.
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      heapUsedBeforeMb: before.heapUsed / MB,
      heapUsedAfterMb: after.heapUsed / MB,
      dbFileMb: (pageCount * pageSize) / MB,
      gcExposed: gc !== undefined,
      addMs,
    };
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  } finally {
    await queue.close(0);
    handle.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
