/**
 * The cage on real Docker: (a) start latency, a fresh hardened cage to its runner's first line vs a
 * bare create+start+wait+remove of the same image, side by side; (b) log streaming, a runner printing
 * 100,000 lines through the engine's `agent.run` worker into the event stream and the database, with
 * the engine's RSS growth. See bench/README.md.
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import type Docker from 'dockerode';
import { createCageEngine, type CageEngine } from '../src-engine/cage/index.ts';
import type { AgentLogEvent } from '../src-engine/contracts/cage.ts';
import { createOllamaClient } from '../src-engine/gateways/ollama/index.ts';
import { createLogger } from '../src-engine/logger.ts';
import { ensureRogueImage } from '../test/cage/rogue-image.ts';
import { ensureDocker } from '../test/support/docker.ts';
import { startTestEngine, type TestEngine } from '../test/support/test-engine.ts';
import { startOllamaSim, type OllamaSim } from '../test/sim/ollama/index.ts';
import { fmtRate, fmtRatio, intEnv, median, table, withCleanup } from './support.ts';

const STARTS = intEnv('BENCH_CAGE_STARTS', 20);
const WARMUP = 2;
const LINES = intEnv('BENCH_CAGE_LINES', 100_000);
const START_TARGET = 1.5;
const LINES_TARGET = 50_000;
const RSS_TARGET_MB = 50;
const BENCH_LABEL = 'agencia.bench';
const MB = 1024 * 1024;
const quiet = createLogger('engine', { level: 'silent' });

/** Nearest-rank percentile. */
function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!;
}

const ms = (x: number) => `${x.toFixed(0)} ms`;

/**
 * `docker run --rm --entrypoint true <image>` through the API, as the cage engine drives Docker:
 * the whole run, and the part up to `start` returning.
 */
async function bareRun(docker: Docker, image: string): Promise<{ total: number; start: number }> {
  const started = performance.now();
  let start: number;
  const c = await docker.createContainer({
    Image: image,
    Entrypoint: ['true'],
    Labels: { [BENCH_LABEL]: '1' },
    HostConfig: { NetworkMode: 'none' },
  });
  try {
    await c.start();
    start = performance.now() - started;
    const { StatusCode } = (await c.wait()) as { StatusCode: number };
    if (StatusCode !== 0) throw new Error(`the bare container exited ${StatusCode}`);
  } finally {
    await c.remove({ force: true });
  }
  return { total: performance.now() - started, start };
}

/** A cage run of the real runner, from `run()` to its first line (create, attach, start, Node's boot). */
async function cageFirstLine(cage: CageEngine): Promise<number> {
  const started = performance.now();
  let first: number | undefined;
  const result = await cage.run(
    { runId: `bench-${randomUUID().slice(0, 8)}`, prompt: 'hello', model: 'llama3.2', maxSteps: 1 },
    {
      onLog: (r) => {
        if (r.stream === 'runner') first ??= performance.now();
      },
    },
  );
  if (result.status !== 'success' || first === undefined)
    throw new Error(`the cage run ended ${result.status}: ${result.output}`);
  return first - started;
}

async function startLatency(docker: Docker, image: string, sim: OllamaSim): Promise<void> {
  const cage = createCageEngine({
    docker,
    ollama: createOllamaClient({ baseUrl: sim.url, timeoutMs: 10_000 }),
    log: quiet,
    options: { image, engineId: 'bench-cage', concurrency: 1 },
  });
  try {
    console.log(`\n(a) start latency: ${STARTS} runs each (+${WARMUP} warm-up), interleaved, image ${image}`);
    const bare: number[] = [];
    const bareStart: number[] = [];
    const caged: number[] = [];
    for (let i = 0; i < STARTS + WARMUP; i++) {
      // Alternate who goes first, so a slow patch of the machine hits both alike.
      let b: { total: number; start: number };
      let c: number;
      if (i % 2 === 0) {
        b = await bareRun(docker, image);
        c = await cageFirstLine(cage);
      } else {
        c = await cageFirstLine(cage);
        b = await bareRun(docker, image);
      }
      if (i < WARMUP) continue;
      bare.push(b.total);
      bareStart.push(b.start);
      caged.push(c);
    }
    const ratio = median(caged) / median(bare);
    console.log(
      table([
        ['side', 'p50', 'p95', 'min', 'max'],
        ...(
          [
            ['bare create+start+wait+remove', bare],
            ['  of which create+start', bareStart],
            ['cage start -> first runner line', caged],
          ] as const
        ).map(([name, xs]) => [
          name,
          ms(median(xs)),
          ms(percentile(xs, 95)),
          ms(Math.min(...xs)),
          ms(Math.max(...xs)),
        ]),
      ]),
    );
    console.log(
      `cage p50 / bare p50 = ${fmtRatio(ratio)} (target <= ${fmtRatio(START_TARGET)}): ${ratio <= START_TARGET ? 'PASS' : 'MISS'}`,
    );
  } finally {
    await cage.close();
  }
}

interface Streamed {
  runnerLines: number;
  inOrder: boolean;
  firstAt: number;
  lastAt: number;
}

/** Watches one run's `agent.log` events without keeping them: counts, order, first and last time. */
function watchRun(t: TestEngine, runId: () => string | undefined) {
  const s: Streamed = { runnerLines: 0, inOrder: true, firstAt: 0, lastAt: 0 };
  let lastSeq = 0;
  let ended: () => void = () => {};
  const done = new Promise<void>((r) => (ended = r));
  const off = t.engine.events.on((e) => {
    if ((e.type !== 'agent.log' && e.type !== 'agent.status') || e.runId !== runId()) return;
    if (e.type === 'agent.status') {
      if (e.status !== 'running') ended();
      return;
    }
    const log = e as AgentLogEvent;
    if (log.seq <= lastSeq) s.inOrder = false;
    lastSeq = log.seq;
    if (log.stream !== 'runner') return;
    const now = performance.now();
    if (s.runnerLines === 0) s.firstAt = now;
    s.lastAt = now;
    if (log.text !== `line ${s.runnerLines + 1}`) s.inOrder = false;
    s.runnerLines += 1;
  });
  return { s, done, off };
}

/** The stored log read back in order: runner lines intact and numbered 1..n, no gap in seq. */
function storedIntact(t: TestEngine, runId: string, lines: number): boolean {
  let n = 0;
  let seq = 0;
  const rows = t.engine.db.sqlite
    .prepare<[string], { seq: number; stream: string; text: string }>(
      `SELECT seq, stream, text FROM agent_run_logs WHERE run_id = ? ORDER BY seq`,
    )
    .iterate(runId);
  for (const r of rows) {
    if (r.seq !== ++seq) return false;
    if (r.stream === 'runner' && r.text !== `line ${++n}`) return false;
  }
  return n === lines;
}

const gc = (globalThis as { gc?: () => void }).gc;
const rssMb = () => {
  gc?.();
  return process.memoryUsage().rss / MB;
};

async function logStreaming(docker: Docker, rogueImage: string, sim: OllamaSim): Promise<void> {
  console.log(`\n(b) log streaming: a runner printing ${fmtRate(LINES)} lines through the agent.run worker`);
  const t = await startTestEngine(
    {
      OLLAMA_URL: sim.url,
      CAGE_IMAGE: rogueImage,
      ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {}),
    },
    { exclusive: true },
  );
  try {
    const org = await t.org({ plan: 'starter', instances: 0 });
    const run = async (lines: number) => {
      let id: string | undefined;
      const w = watchRun(t, () => id);
      const started = performance.now();
      try {
        id = (await t.engine.call('agents:run', { prompt: `lines ${lines}`, maxSteps: 1 }, org.apiKey)).runId;
        await w.done;
      } finally {
        w.off();
      }
      const status = (await t.engine.call('agents:get', { id }, org.apiKey)).status;
      return { id, status, total: performance.now() - started, ...w.s };
    };
    await run(2_000); // warm-up: JIT, prepared statements, the image in the page cache
    const before = rssMb();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss / MB)), 20);
    const r = await run(LINES);
    clearInterval(sampler);
    const after = rssMb();
    peak = Math.max(peak, after);

    const intactDb = storedIntact(t, r.id, LINES);
    const streamRate = r.runnerLines / ((r.lastAt - r.firstAt) / 1000);
    const totalRate = LINES / (r.total / 1000);
    const growth = peak - before;
    console.log(
      table([
        ['figure', 'value', 'target'],
        ['run status', r.status, 'success'],
        [
          'lines on the event stream',
          `${fmtRate(r.runnerLines)}, ${r.inOrder ? 'in order' : 'OUT OF ORDER'}`,
          fmtRate(LINES),
        ],
        ['lines in agent_run_logs', intactDb ? 'intact, in order' : 'NOT INTACT', 'intact'],
        ['lines/s, first to last line', fmtRate(streamRate), `>= ${fmtRate(LINES_TARGET)}`],
        ['lines/s, POST to end (cage start included)', fmtRate(totalRate), ''],
        [
          'RSS before / peak / after',
          `${before.toFixed(0)} / ${peak.toFixed(0)} / ${after.toFixed(0)} MB`,
          '',
        ],
        ['RSS growth (peak - before)', `${growth.toFixed(1)} MB`, `< ${RSS_TARGET_MB} MB`],
      ]),
    );
    const pass =
      r.status === 'success' &&
      r.inOrder &&
      r.runnerLines === LINES &&
      intactDb &&
      streamRate >= LINES_TARGET &&
      growth < RSS_TARGET_MB;
    console.log(
      `log streaming: ${pass ? 'PASS' : 'MISS'}${gc ? '' : ' (run with --expose-gc for steadier RSS figures)'}`,
    );
  } finally {
    await t.dispose();
  }
}

export async function main(): Promise<void> {
  const env = await ensureDocker();
  if (!env.ok) {
    console.log(`skipped: the cage bench needs Docker: ${env.reason}`);
    return;
  }
  const { docker } = env;
  let sim: OllamaSim | undefined;
  await withCleanup(
    async () => {
      await sim?.close();
      const left = await docker.listContainers({ all: true, filters: { label: [`${BENCH_LABEL}=1`] } });
      await Promise.all(
        left.map((c) =>
          docker
            .getContainer(c.Id)
            .remove({ force: true })
            .catch(() => {}),
        ),
      );
    },
    async () => {
      sim = await startOllamaSim();
      await startLatency(docker, env.cageImage, sim);
      await logStreaming(docker, await ensureRogueImage(docker, env.cageImage), sim);
    },
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
