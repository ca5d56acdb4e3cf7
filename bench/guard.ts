/**
 * Guard bench: a guarded `whatsapp:send` through the whole pipeline (validate -> auth -> idempotency
 * -> plan limits -> rate limit -> credit guard -> reserve -> enqueue) on the embedded SQLite backend,
 * against a plain BullMQ `Queue.add()` loop on a local redis-server, measured side by side in one run
 * and reported as ratios. See bench/README.md.
 *
 *   npm run bench -- guard
 *   bash scripts/with-node22.sh node --import tsx bench/guard.ts
 *
 * Environment: BENCH_GUARD_N (requests per measurement, default 5000), BENCH_ROUNDS (default 3),
 * BENCH_GUARD_CONCURRENCY (comma-separated requests in flight, default "1,8").
 *
 * Always exits 0 when it ran to the end, even when a target is missed: it is a report.
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { SendMessageInput } from '../src-engine/contracts/whatsapp.ts';
import { formatCredits } from '../src-engine/ledger/money.ts';
import { startRedis, type TestRedis } from '../test/support/redis.ts';
import { startTestEngine, type TestEngine, type TestOrg } from '../test/support/test-engine.ts';
import { fmtRate, fmtRatio, intEnv, median, table, withCleanup } from './support.ts';

/**
 * An org on `plan` with an instance and credit for `sends` overage messages, whose plan quota is
 * already used up when `exhaust` is set (those sends go through the guard too, untimed), so every
 * later send takes the paid path: credit guard + ledger hold.
 */
export async function benchOrg(
  t: TestEngine,
  opts: { plan: string; sends: number; exhaust: boolean },
): Promise<TestOrg> {
  const price = t.engine.quotas.price('message.overage');
  const included = t.engine.quotas.plan(opts.plan).messagesIncluded;
  const org = await t.org({ plan: opts.plan, credits: formatCredits(price * (opts.sends + included)) });
  if (opts.exhaust) {
    for (let i = 0; i < included; i++) await t.engine.call('whatsapp:send', sendInput(org, i), org.apiKey);
  }
  return org;
}

/** A valid send request; every even one carries a fresh idempotency key. */
export function sendInput(org: TestOrg, i: number, withKey = i % 2 === 0): SendMessageInput {
  return {
    instanceId: org.instanceIds[0]!,
    to: String(5215500000000 + i),
    text: `bench message ${i}`,
    ...(withKey ? { idempotencyKey: randomUUID() } : {}),
  };
}

// ---------------------------------------------------------------------------------------------

/** `n` calls of `fn`, `concurrency` at a time, each loop awaiting its call before the next. */
async function loops(n: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

const rate = (n: number, ms: number) => (n * 1000) / ms;

type SideName = 'free' | 'paid' | 'bullmq';

interface Side {
  name: SideName;
  /** jobs/s of n requests, `concurrency` in flight, on fresh state. */
  measure(n: number, concurrency: number): Promise<number>;
}

/**
 * The guarded send on a fresh engine (its own temp data dir, a real SQLite file in WAL) per
 * measurement, so every measurement starts from the same state. `free`: a Partner org well within
 * its included messages (no hold). `paid`: a Free org whose 50 included messages are used up, with
 * credit, so each send passes the credit guard and writes a ledger hold.
 */
function guardSide(name: 'free' | 'paid', live: Set<TestEngine>): Side {
  const plan = name === 'free' ? 'partner' : 'free';
  return {
    name,
    async measure(n, concurrency) {
      const t = await startTestEngine();
      live.add(t);
      try {
        const included = t.engine.quotas.plan(plan).messagesIncluded;
        if (name === 'free' && n > included) {
          throw new Error(`BENCH_GUARD_N=${n} is above the ${plan} plan's ${included} included messages`);
        }
        const org = await benchOrg(t, { plan, sends: n, exhaust: name === 'paid' });
        const t0 = performance.now();
        await loops(n, concurrency, (i) => t.engine.call('whatsapp:send', sendInput(org, i), org.apiKey));
        const jobsPerS = rate(n, performance.now() - t0);
        const exhausted = name === 'paid' ? included : 0;
        await verify(t, org, {
          total: exhausted + n,
          paid: name === 'paid' ? n : 0,
          keyed: Math.ceil(exhausted / 2) + Math.ceil(n / 2),
        });
        return jobsPerS;
      } finally {
        live.delete(t);
        await t.dispose();
      }
    },
  };
}

/** Outside the timing: every request left a message, a queued job and (paid) a hold; else the bench is broken. */
async function verify(
  t: TestEngine,
  org: TestOrg,
  want: { total: number; paid: number; keyed: number },
): Promise<void> {
  const rows = t.engine.db.sqlite
    .prepare<[string], { total: number; paid: number; keyed: number }>(
      `SELECT count(*) AS total, coalesce(sum(free = 0), 0) AS paid,
              coalesce(sum(idempotency_key IS NOT NULL), 0) AS keyed
       FROM sent_messages WHERE org_id = ?`,
    )
    .get(org.orgId)!;
  const c = await t.engine.queue.counts('whatsapp.send');
  const jobs = c.waiting + c.delayed + c.active + c.completed + c.failed;
  const holds = t.engine.ledger.balance(org.orgId);
  const price = t.engine.quotas.price('message.overage');
  const problems = [
    rows.total !== want.total && `${rows.total} messages, expected ${want.total}`,
    rows.paid !== want.paid && `${rows.paid} paid messages, expected ${want.paid}`,
    jobs !== want.total && `${jobs} queued jobs, expected ${want.total}`,
    rows.keyed !== want.keyed && `${rows.keyed} messages with an idempotency key, expected ${want.keyed}`,
    holds.pendingMicro !== want.paid * price &&
      `${formatCredits(holds.pendingMicro)} credits held, expected ${formatCredits(want.paid * price)}`,
  ].filter(Boolean);
  if (problems.length) throw new Error(`guarded sends did not all take effect: ${problems.join('; ')}`);
}

/** Plain BullMQ, default job options, on the bench's redis-server; fresh queue name and a flush per measurement. */
function bullmqSide(redis: TestRedis): Side {
  const connection = { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null };
  let seq = 0;
  return {
    name: 'bullmq',
    async measure(n, concurrency) {
      const queue = new Queue(`bench-guard-${++seq}`, { connection });
      try {
        await queue.waitUntilReady();
        const t0 = performance.now();
        await loops(n, concurrency, (i) => queue.add('noop', { i }));
        return rate(n, performance.now() - t0);
      } finally {
        await queue.close();
        const admin = new Redis(redis.url);
        try {
          await admin.flushall();
        } finally {
          admin.disconnect();
        }
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------

const TARGET_RATIO = 2.0;
/** The target is about a sequential loop; other concurrencies are reported for information. */
const TARGET_CONCURRENCY = 1;

type Sample = Record<SideName, number>;

function concurrencies(): number[] {
  const raw = process.env.BENCH_GUARD_CONCURRENCY ?? '1,8';
  const list = raw.split(',').map((s) => Number(s.trim()));
  if (!list.length || list.some((c) => !Number.isInteger(c) || c < 1))
    throw new Error(`BENCH_GUARD_CONCURRENCY must list positive integers, got ${JSON.stringify(raw)}`);
  return list;
}

export async function main(): Promise<void> {
  const n = intEnv('BENCH_GUARD_N', 5_000);
  const rounds = intEnv('BENCH_ROUNDS', 3);
  const levels = concurrencies();
  const live = new Set<TestEngine>();
  let redis: TestRedis | undefined;

  await withCleanup(
    async () => {
      await Promise.allSettled([...live].map((t) => t.dispose()));
      await redis?.stop().catch(() => {});
    },
    async () => {
      redis = await startRedis();
      console.log(
        `node ${process.version}, ${process.platform}/${process.arch}; redis-server on port ${redis.port}; ` +
          `N=${n} requests per measurement, ${rounds} rounds, concurrency ${levels.join(' and ')}`,
      );
      const guard = [guardSide('free', live), guardSide('paid', live)];
      const bullmq = bullmqSide(redis);

      // Warm-up, not counted: JIT, zod, Lua script loading.
      const warm = Math.min(n, 2_000);
      process.stdout.write(`warm-up (${warm} requests per measurement) ...`);
      for (const side of [...guard, bullmq]) for (const c of levels) await side.measure(warm, c);
      process.stdout.write(' done\n');

      const samples = new Map<number, Sample[]>(levels.map((c) => [c, []]));
      for (let r = 0; r < rounds; r++) {
        // Alternate who goes first, so a slow patch of the machine hits both alike.
        const order = r % 2 === 0 ? [...guard, bullmq] : [bullmq, ...guard];
        const line: string[] = [];
        for (const c of levels) {
          const s: Sample = { free: 0, paid: 0, bullmq: 0 };
          for (const side of order) s[side.name] = await side.measure(n, c);
          samples.get(c)!.push(s);
          line.push(
            `c=${c} free ${fmtRate(s.free)}, paid ${fmtRate(s.paid)}, BullMQ ${fmtRate(s.bullmq)} ` +
              `(${fmtRatio(s.free / s.bullmq)}, ${fmtRatio(s.paid / s.bullmq)})`,
          );
        }
        console.log(`round ${r + 1}/${rounds} (${order[0]!.name} first) jobs/s: ${line.join('; ')}`);
      }

      const misses: string[] = [];
      const rows = [['metric', 'guarded jobs/s', 'BullMQ add jobs/s', 'ratio', 'target', 'result']];
      for (const c of levels) {
        const s = samples.get(c)!;
        for (const path of ['free', 'paid'] as const) {
          const ratio = median(s.map((x) => x[path] / x.bullmq));
          const label = `guarded send, ${path} path, concurrency ${c}`;
          const targeted = c === TARGET_CONCURRENCY;
          if (targeted && ratio < TARGET_RATIO) misses.push(label);
          rows.push([
            label,
            fmtRate(median(s.map((x) => x[path]))),
            fmtRate(median(s.map((x) => x.bullmq))),
            fmtRatio(ratio),
            targeted ? `>= ${TARGET_RATIO.toFixed(1)}x` : '-',
            targeted ? (ratio >= TARGET_RATIO ? 'PASS' : 'MISS') : 'info',
          ]);
        }
      }
      console.log(
        `\nguarded enqueue vs BullMQ add, N=${n}, median of ${rounds} rounds (ratio = median of the per-round ratios):\n`,
      );
      console.log(table(rows));
      console.log(misses.length ? `\nMISSED: ${misses.join('; ')}` : '\nall targets met');
    },
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
