/**
 * Queue bench: the embedded SQLite queue against plain BullMQ on a local redis-server, measured
 * side by side in one run and reported as ratios (machines are noisy; absolute jobs/s are not
 * comparable between machines, the ratio is). See bench/README.md.
 *
 *   npm run bench -- queue
 *   bash scripts/with-node22.sh node --import tsx bench/queue.ts
 *
 * Environment: BENCH_N (jobs per measurement, default 20000), BENCH_ROUNDS (default 3),
 * BENCH_MEMORY_JOBS (default 100000).
 *
 * Always exits 0 when it ran to the end, even when a target is missed: it is a report.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { openDatabase } from '../src-engine/db/connection.ts';
import type { BulkItem, JobQueue } from '../src-engine/queue/port.ts';
import { createSqliteQueue } from '../src-engine/queue/sqlite.ts';
import { startRedis, type TestRedis } from '../test/support/redis.ts';
import type { MemoryResult } from './queue-memory-child.ts';
import { fmtRate, fmtRatio, intEnv, median, table } from './support.ts';

const EMBEDDED_QUEUE = 'bench.noop';
const PREFILL_BATCH = 1_000;
/** A measurement that takes longer than this is broken (a stuck worker), not slow. */
const MEASURE_TIMEOUT_MS = 120_000;

type Metric = 'add' | 'process1' | 'process8';

interface Target {
  metric: Metric;
  label: string;
  /** embedded jobs/s divided by BullMQ jobs/s must be at least this. */
  minRatio: number;
}

const TARGETS: Target[] = [
  { metric: 'add', label: 'add loop (await add, sequential)', minRatio: 1.0 },
  { metric: 'process1', label: 'process no-op, concurrency 1', minRatio: 0.7 },
  { metric: 'process8', label: 'process no-op, concurrency 8', minRatio: 0.7 },
];
const MEMORY_LIMIT_MB = 50;

interface Backend {
  name: 'embedded' | 'bullmq';
  /** jobs/s of a sequential `await add()` loop of n jobs on a fresh queue. */
  addLoop(n: number): Promise<number>;
  /** jobs/s from starting a worker until n pre-filled no-op jobs have completed, on a fresh queue. */
  process(n: number, concurrency: number): Promise<number>;
}

const rate = (n: number, ms: number) => (n * 1000) / ms;

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: no result after ${MEASURE_TIMEOUT_MS} ms`)),
      MEASURE_TIMEOUT_MS,
    );
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------
// Embedded: createSqliteQueue on a real SQLite file (WAL, as openDatabase sets it), one fresh
// file per measurement.

function embeddedBackend(dir: string): Backend {
  let fileSeq = 0;

  async function withQueue<T>(fn: (q: JobQueue) => Promise<T>): Promise<T> {
    const file = join(dir, `embedded-${++fileSeq}.db`);
    const handle = openDatabase(file);
    const queue = createSqliteQueue({ sqlite: handle.sqlite, exclusive: true });
    try {
      return await fn(queue);
    } finally {
      await queue.close(0);
      handle.close();
      await Promise.all(['', '-wal', '-shm'].map((s) => rm(file + s, { force: true })));
    }
  }

  return {
    name: 'embedded',
    addLoop: (n) =>
      withQueue(async (queue) => {
        const t0 = performance.now();
        for (let i = 0; i < n; i++) await queue.add(EMBEDDED_QUEUE, { i });
        return rate(n, performance.now() - t0);
      }),
    process: (n, concurrency) =>
      withQueue(async (queue) => {
        for (let i = 0; i < n; i += PREFILL_BATCH) {
          const items: BulkItem[] = [];
          for (let j = i; j < Math.min(n, i + PREFILL_BATCH); j++)
            items.push({ queue: EMBEDDED_QUEUE, data: { i: j } });
          await queue.addBulk(items);
        }
        let completed = 0;
        let off = () => {};
        const finished = new Promise<void>((resolve, reject) => {
          off = queue.events.on((e) => {
            if (e.queue !== EMBEDDED_QUEUE) return;
            if (e.type === 'job.completed' && ++completed === n) resolve();
            if (e.type === 'job.failed') reject(new Error(`embedded job ${e.jobId} failed: ${e.error}`));
          });
        });
        const t0 = performance.now();
        const worker = queue.process(EMBEDDED_QUEUE, async () => {}, { concurrency });
        try {
          await withTimeout(finished, `embedded process c=${concurrency}`);
          return rate(n, performance.now() - t0);
        } finally {
          off();
          await worker.close(0);
        }
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// BullMQ: the plain library, default job options, on the redis-server this bench started. Every
// measurement uses a fresh queue name, and the database is flushed after each one (outside the
// timing) so every round starts from the same empty Redis.

function bullmqBackend(redis: TestRedis): Backend {
  const connection = { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null };
  let nameSeq = 0;

  async function withQueue<T>(fn: (q: Queue, name: string) => Promise<T>): Promise<T> {
    const name = `bench-${++nameSeq}`;
    const queue = new Queue(name, { connection });
    try {
      await queue.waitUntilReady();
      return await fn(queue, name);
    } finally {
      await queue.close();
      const admin = new Redis(redis.url);
      try {
        await admin.flushall();
      } finally {
        admin.disconnect();
      }
    }
  }

  return {
    name: 'bullmq',
    addLoop: (n) =>
      withQueue(async (queue) => {
        const t0 = performance.now();
        for (let i = 0; i < n; i++) await queue.add('noop', { i });
        return rate(n, performance.now() - t0);
      }),
    process: (n, concurrency) =>
      withQueue(async (queue, name) => {
        for (let i = 0; i < n; i += PREFILL_BATCH) {
          const jobs = [];
          for (let j = i; j < Math.min(n, i + PREFILL_BATCH); j++)
            jobs.push({ name: 'noop', data: { i: j } });
          await queue.addBulk(jobs);
        }
        // Connect first (autorun off), so the clock measures processing, not Redis handshakes.
        const worker = new Worker(name, async () => {}, { connection, concurrency, autorun: false });
        let completed = 0;
        const finished = new Promise<void>((resolve, reject) => {
          worker.on('completed', () => {
            if (++completed === n) resolve();
          });
          worker.on('failed', (job, err) =>
            reject(new Error(`bullmq job ${job?.id} failed: ${err.message}`)),
          );
          worker.on('error', reject);
        });
        try {
          await worker.waitUntilReady();
          const t0 = performance.now();
          const running = worker.run();
          running.catch(() => {});
          await withTimeout(finished, `bullmq process c=${concurrency}`);
          return rate(n, performance.now() - t0);
        } finally {
          await worker.close();
        }
      }),
  };
}

// ---------------------------------------------------------------------------------------------

interface Sample {
  embedded: number;
  bullmq: number;
}

async function measure(backend: Backend, metric: Metric, n: number): Promise<number> {
  switch (metric) {
    case 'add':
      return backend.addLoop(n);
    case 'process1':
      return backend.process(n, 1);
    case 'process8':
      return backend.process(n, 8);
  }
}

async function throughput(
  dir: string,
  redis: TestRedis,
  n: number,
  rounds: number,
): Promise<Map<Metric, Sample[]>> {
  const embedded = embeddedBackend(dir);
  const bullmq = bullmqBackend(redis);

  // Warm-up, not counted: JIT, Lua script loading, SQLite statement preparation.
  const warm = Math.min(n, 2_000);
  process.stdout.write(`warm-up (${warm} jobs per measurement) ...`);
  for (const b of [embedded, bullmq]) for (const t of TARGETS) await measure(b, t.metric, warm);
  process.stdout.write(' done\n');

  const samples = new Map<Metric, Sample[]>(TARGETS.map((t) => [t.metric, []]));
  for (let r = 0; r < rounds; r++) {
    // Alternate which backend goes first, so a slow patch of the machine hits both alike.
    const order = r % 2 === 0 ? [embedded, bullmq] : [bullmq, embedded];
    const line: string[] = [];
    for (const t of TARGETS) {
      const sample: Sample = { embedded: 0, bullmq: 0 };
      for (const b of order) sample[b.name] = await measure(b, t.metric, n);
      samples.get(t.metric)!.push(sample);
      line.push(
        `${t.metric} ${fmtRate(sample.embedded)}/${fmtRate(sample.bullmq)} = ${fmtRatio(sample.embedded / sample.bullmq)}`,
      );
    }
    console.log(
      `round ${r + 1}/${rounds} (${order[0]!.name} first) embedded/BullMQ jobs/s: ${line.join(', ')}`,
    );
  }
  return samples;
}

async function memory(dir: string, jobs: number): Promise<MemoryResult> {
  const child = fileURLToPath(new URL('./queue-memory-child.ts', import.meta.url));
  const tsx = import.meta.resolve('tsx');
  const proc = spawn(process.execPath, ['--expose-gc', '--import', tsx, child, dir, String(jobs)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    proc.once('error', reject);
    proc.once('close', (c) => resolve(c)); // 'close': stdout fully read, unlike 'exit'
  });
  const line = out.split('\n').find((l) => l.startsWith('RESULT '));
  if (code !== 0 || !line) throw new Error(`memory child exited with ${code}: ${out.trim()}`);
  return JSON.parse(line.slice('RESULT '.length)) as MemoryResult;
}

export async function main(): Promise<void> {
  const n = intEnv('BENCH_N', 20_000);
  const rounds = intEnv('BENCH_ROUNDS', 3);
  const memoryJobs = intEnv('BENCH_MEMORY_JOBS', 100_000);

  const dir = await mkdtemp(join(tmpdir(), 'agencia-bench-queue-'));
  let redis: TestRedis | undefined;
  let cleaned: Promise<void> | undefined;
  const cleanup = () =>
    (cleaned ??= (async () => {
      await redis?.stop().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    })());
  const onSignal = (sig: NodeJS.Signals) => {
    console.error(`\n${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    redis = await startRedis();
    console.log(
      `node ${process.version}, ${process.platform}/${process.arch}; redis-server on port ${redis.port}; ` +
        `N=${n} jobs per measurement, ${rounds} rounds; temp dir ${dir}`,
    );
    const samples = await throughput(dir, redis, n, rounds);
    // Redis is not needed for the memory figure; stop it so it does not compete for the CPU.
    await redis.stop();
    redis = undefined;

    console.log(`\nmemory: ${memoryJobs.toLocaleString('en-US')} waiting jobs in a child process ...`);
    const mem = await memory(dir, memoryJobs);

    const misses: string[] = [];
    const rows: string[][] = [['metric', 'embedded jobs/s', 'BullMQ jobs/s', 'ratio', 'target', 'result']];
    for (const t of TARGETS) {
      const s = samples.get(t.metric)!;
      const ratio = median(s.map((x) => x.embedded / x.bullmq));
      const pass = ratio >= t.minRatio;
      if (!pass) misses.push(t.label);
      rows.push([
        t.label,
        fmtRate(median(s.map((x) => x.embedded))),
        fmtRate(median(s.map((x) => x.bullmq))),
        fmtRatio(ratio),
        `>= ${t.minRatio.toFixed(1)}x`,
        pass ? 'PASS' : 'MISS',
      ]);
    }
    console.log(
      `\nqueue throughput, N=${n}, median of ${rounds} rounds (ratio = median of the per-round ratios):\n`,
    );
    console.log(table(rows));

    const memPass = mem.rssDeltaMb < MEMORY_LIMIT_MB;
    if (!memPass) misses.push(`RSS of ${mem.jobs} waiting jobs`);
    const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}`;
    const count = (x: number) => x.toLocaleString('en-US');
    console.log(`\nmemory, embedded backend, child process (--expose-gc), RSS in MB:\n`);
    console.log(
      table([
        ['metric', 'before', 'after', 'delta', 'target', 'result'],
        [
          `RSS, ${count(mem.jobs)} waiting jobs added`,
          mem.rssBeforeMb.toFixed(1),
          mem.rssAfterMb.toFixed(1),
          signed(mem.rssDeltaMb),
          `< ${MEMORY_LIMIT_MB} MB`,
          memPass ? 'PASS' : 'MISS',
        ],
        [
          `RSS, ${count(mem.jobs)} more (slope check)`,
          mem.rssAfterMb.toFixed(1),
          mem.rssAfterSecondMb.toFixed(1),
          signed(mem.rssAfterSecondMb - mem.rssAfterMb),
          '~0',
          'info',
        ],
      ]),
    );
    console.log(
      `  waiting rows at the end: ${count(mem.waiting)} (${count(mem.warmup)} warm-up + 2 x ${count(mem.jobs)}); ` +
        `database ${mem.dbFileMb.toFixed(1)} MB on disk; V8 heap used ${mem.heapUsedBeforeMb.toFixed(1)} -> ` +
        `${mem.heapUsedAfterMb.toFixed(1)} MB; peak RSS ${mem.peakRssMb.toFixed(1)} MB; ` +
        `addBulk at ${fmtRate(rate(mem.jobs, mem.addMs))} jobs/s${mem.gcExposed ? '' : '; WARNING: gc not exposed'}`,
    );

    console.log(misses.length ? `\nMISSED: ${misses.join('; ')}` : '\nall targets met');
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
