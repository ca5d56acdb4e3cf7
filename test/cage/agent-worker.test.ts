import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AGENT_RUN_QUEUE,
  createAgentWorker,
  readRunLog,
  type AgentEvent,
  type AgentWorker,
  type AgentWorkerDeps,
} from '../../src-engine/cage/agent-worker.ts';
import { cageContainerSpec, createDockerClient, type CageEngine } from '../../src-engine/cage/index.ts';
import type { AgentRun, RunAgentInput } from '../../src-engine/contracts/agents.ts';
import type { AgentLogEvent, CageOptionsInput } from '../../src-engine/contracts/cage.ts';
import type { EngineEvent } from '../../src-engine/contracts/events.ts';
import type { Sqlite } from '../../src-engine/db/connection.ts';
import { createCommitEmitter, createEventBus } from '../../src-engine/events.ts';
import { createCharges } from '../../src-engine/ledger/charges.ts';
import { createLedger, type Ledger } from '../../src-engine/ledger/ledger.ts';
import { within } from '../../src-engine/within.ts';
import { ensureDocker } from '../support/docker.ts';
import { startTestEngine, type TestEngine, type TestOrg } from '../support/test-engine.ts';
import { startOllamaSim, type OllamaSim } from '../sim/ollama/index.ts';
import { cageEngine, containersOf, MODEL, quietLog, until } from './harness.ts';
import { ensureRogueImage } from './rogue-image.ts';

/**
 * The `agent.run` worker on a real engine (SQLite, guard, queue, ledger) with real cages on Docker
 * and the Ollama simulator: from the guard's queued run to a recorded, charged result.
 */
const env = await ensureDocker();

type Event = AgentEvent | EngineEvent;
type RunRow = { status: string; output: string | null; error: string | null; reservation_id: string | null };

/** A worker wired like the engine: its own bus, and a ledger whose events wait for commits. */
function wire(t: TestEngine, cage: CageEngine, extra: Partial<AgentWorkerDeps> = {}) {
  const sqlite = t.engine.db.sqlite;
  const events: Event[] = [];
  const bus = createEventBus<Event>();
  bus.on((e) => events.push(e));
  const txEvents = createCommitEmitter(bus, () => sqlite.inTransaction);
  const ledger = createLedger({ sqlite, events: txEvents });
  const worker = createAgentWorker({
    sqlite,
    queue: t.engine.queue,
    cage,
    charges: createCharges({ sqlite, ledger }),
    compliance: t.engine.compliance,
    events: bus,
    txEvents,
    log: quietLog,
    defaultModel: MODEL,
    ...extra,
  });
  return { worker, events, ledger };
}

async function submit(t: TestEngine, org: TestOrg, input: RunAgentInput): Promise<string> {
  const { runId } = await t.engine.call('agents:run', input, org.apiKey);
  return runId;
}

function row(sqlite: Sqlite, runId: string): RunRow {
  return sqlite.prepare<[string], RunRow>(`SELECT * FROM agent_runs WHERE id = ?`).get(runId)!;
}

async function ended(t: TestEngine, org: TestOrg, runId: string): Promise<AgentRun> {
  const sqlite = t.engine.db.sqlite;
  await until(
    () => !['queued', 'running'].includes(row(sqlite, runId).status),
    20_000,
    `run ${runId} to end`,
  );
  return t.engine.call('agents:get', { id: runId }, org.apiKey);
}

function holdState(ledger: Ledger, runId: string, sqlite: Sqlite): string | undefined {
  const id = row(sqlite, runId).reservation_id;
  return id ? ledger.getReservation(id)?.state : undefined;
}

function alertsFor(sqlite: Sqlite, runId: string): { kind: string; message: string }[] {
  return sqlite
    .prepare<[string], { kind: string; message: string }>(`SELECT kind, message FROM alerts WHERE cycle = ?`)
    .all(runId);
}

describe.skipIf(!env.ok)('agent.run worker', () => {
  let docker: Docker;
  let cageImage: string;
  let t: TestEngine;
  let sim: OllamaSim;
  let cage: CageEngine;
  let org: TestOrg;
  let worker: AgentWorker;
  let events: Event[];
  let ledger: Ledger;
  let sqlite: Sqlite;

  beforeAll(async () => {
    if (!env.ok) return;
    docker = env.docker;
    cageImage = env.cageImage;
    t = await startTestEngine();
    sqlite = t.engine.db.sqlite;
    sim = await startOllamaSim();
    cage = cageEngine(docker, sim.url, {
      image: cageImage,
      engineId: 'agent-worker-tests',
      timeoutS: 3,
      cancelGraceMs: 300,
    });
    ({ worker, events, ledger } = wire(t, cage));
    // Free: one run a cycle included, the next ones hold 1 credit each.
    org = await t.org({ plan: 'free', credits: '10', instances: 0 });
    expect(await worker.recover()).toBe(0);
    worker.start();
  });
  afterAll(async () => {
    await t?.dispose();
    await cage?.close();
    await sim?.close();
  });

  it('runs a queued run to success, stores and streams its log in order, and charges the hold of a second run', async () => {
    const first = await submit(t, org, { prompt: 'say hello', maxSteps: 3 });
    const run1 = await ended(t, org, first);
    expect(run1).toMatchObject({ status: 'success', output: 'echo: say hello', error: null, stepsUsed: 1 });
    expect(run1.tokensIn).toBeGreaterThan(0);
    expect(run1.tokensOut).toBeGreaterThan(0);
    expect(run1.startedAt).not.toBeNull();
    expect(run1.finishedAt).toBeGreaterThanOrEqual(run1.startedAt!);
    expect(row(sqlite, first).reservation_id).toBeNull(); // the plan's included run

    // The log: stored in order, the same lines the event stream carried, replayable from any point.
    const stored = readRunLog(sqlite, first);
    const live = events.filter((e): e is AgentLogEvent => e.type === 'agent.log' && e.runId === first);
    expect(stored.length).toBeGreaterThan(3);
    expect(stored.map((l) => l.seq)).toEqual(stored.map((_, i) => i + 1));
    expect(live.map(({ seq, stream, text, ts }) => ({ runId: first, seq, stream, text, ts }))).toEqual(
      stored,
    );
    expect(live.every((e) => e.orgId === org.orgId)).toBe(true);
    expect(stored.some((l) => l.stream === 'llm' && l.text.includes(MODEL))).toBe(true);
    expect(stored.at(-1)?.text).toBe('run ended: success');
    expect(readRunLog(sqlite, first, { afterSeq: 2, limit: 2 }).map((l) => l.seq)).toEqual([3, 4]);
    const statuses = events.filter((e) => e.type === 'agent.status' && e.runId === first);
    expect(statuses.map((e) => e.type === 'agent.status' && e.status)).toEqual(['running', 'success']);

    // The second run of the cycle holds its price; success captures it, once, after the commit.
    sim.script(MODEL, { type: 'tool_call', name: 'finish', arguments: { output: 'done twice' } });
    const second = await submit(t, org, { prompt: 'again', model: 'llama3.2', maxSteps: 2 });
    expect(holdState(ledger, second, sqlite)).toBe('pending');
    expect(await ended(t, org, second)).toMatchObject({ status: 'success', output: 'done twice' });
    expect(holdState(ledger, second, sqlite)).toBe('posted');
    const reservationId = row(sqlite, second).reservation_id;
    expect(
      events.filter((e) => e.type === 'ledger.captured' && e.reservationId === reservationId),
    ).toHaveLength(1);
    expect(t.engine.ledger.balance(org.orgId)).toMatchObject({ postedMicro: 9_000_000, pendingMicro: 0 });
    expect(alertsFor(sqlite, second)).toEqual([]);
  });

  it('does not start a paid run whose hold expired while it was queued once the credit is gone', async () => {
    await t.engine.queue.pause(AGENT_RUN_QUEUE);
    try {
      const posted = t.engine.ledger.balance(org.orgId).postedMicro;
      const id = await submit(t, org, { prompt: 'late', maxSteps: 1 });
      // It waited past its hold (the desktop was off): the sweeper gave the credit back, and the
      // org held all of it for something else meanwhile.
      sqlite
        .prepare(`UPDATE reservations SET expires_at = ? WHERE id = ?`)
        .run(Date.now() - 1, row(sqlite, id).reservation_id);
      expect(t.engine.ledger.sweepExpired()).toHaveLength(1);
      const { availableMicro } = t.engine.ledger.balance(org.orgId);
      const elsewhere = t.engine.ledger.reserve(org.orgId, availableMicro, 3_600_000, { reference: 'other' });
      await t.engine.queue.resume(AGENT_RUN_QUEUE);
      const run = await ended(t, org, id);
      expect(run.status).toBe('error');
      expect(run.error).toMatch(/^not started: /);
      expect(holdState(ledger, id, sqlite)).toBe('expired');
      t.engine.ledger.release(elsewhere.id);
      expect(t.engine.ledger.balance(org.orgId)).toMatchObject({ postedMicro: posted, pendingMicro: 0 });
    } finally {
      await t.engine.queue.resume(AGENT_RUN_QUEUE);
    }
  });

  it('past the log limit, stores and streams the same lines: one saying so, then how the run ended', async () => {
    const limited = cageEngine(docker, sim.url, {
      image: cageImage,
      engineId: 'agent-worker-limit',
      maxLogRecords: 12,
    });
    await onOwnEngine(limited, async (other, w, o) => {
      // Long enough an answer that the run logs more than the 12 lines kept in this test.
      sim.script(MODEL, {
        type: 'text',
        text: Array.from({ length: 20 }, (_, i) => `line ${i}`).join('\n'),
        splitLines: true,
      });
      const id = await submit(other, o, { prompt: 'chatty', maxSteps: 3 });
      const run = await ended(other, o, id);
      const stored = readRunLog(other.engine.db.sqlite, id);
      const live = w.events.filter((e): e is AgentLogEvent => e.type === 'agent.log' && e.runId === id);
      expect(live.map(({ seq, stream, text, ts }) => ({ runId: id, seq, stream, text, ts }))).toEqual(stored);
      expect(stored.map((l) => l.seq)).toEqual(stored.map((_, i) => i + 1));
      expect(stored[12]).toMatchObject({
        seq: 13,
        stream: 'engine',
        text: 'log limit reached (12 records): further output is not recorded, only how the run ends',
      });
      // Past the limit: only the engine's notes on how the run ended, the last one saying so.
      const after = stored.slice(13);
      expect(after.every((l) => l.stream === 'engine')).toBe(true);
      expect(after.some((l) => l.text.startsWith('result: '))).toBe(true);
      expect(after.map((l) => l.text)).toContain('container removed');
      expect(after.at(-1)?.text).toBe(`run ended: ${run.status}`);
    });
  });

  it('records a model that is not installed as an error, releases the hold and raises an alert', async () => {
    const before = t.engine.ledger.balance(org.orgId);
    const id = await submit(t, org, { prompt: 'hi', model: 'no-such-model', maxSteps: 2 });
    const run = await ended(t, org, id);
    expect(run.status).toBe('error');
    expect(run.error).toMatch(/^llm_error: .*"no-such-model" is not installed/);
    expect(holdState(ledger, id, sqlite)).toBe('voided');
    expect(t.engine.ledger.balance(org.orgId)).toEqual(before);
    expect(alertsFor(sqlite, id)).toEqual([
      {
        kind: 'agent_failed',
        message: expect.stringContaining(`Agent run ${id} ended with error: llm_error`),
      },
    ]);
    expect(events.filter((e) => e.type === 'ledger.released')).not.toHaveLength(0);
  });

  it('records a run that outlives its time limit as a timeout, with its hold released', async () => {
    sim.script(MODEL, { type: 'hang' });
    const id = await submit(t, org, { prompt: 'think forever', maxSteps: 2 });
    const run = await ended(t, org, id);
    expect(run.status).toBe('timeout');
    expect(run.error).toMatch(/^timeout: the run took longer than 3 s/);
    expect(holdState(ledger, id, sqlite)).toBe('voided');
    expect(alertsFor(sqlite, id)).toHaveLength(1);
    expect(await containersOf(docker, id)).toEqual([]);
  });

  it('cancels a running run: cancelled, hold released, nothing left in Docker; a queued one at once', async () => {
    sim.script(MODEL, { type: 'hang' });
    const id = await submit(t, org, { prompt: 'wait for me', maxSteps: 2 });
    await until(() =>
      events.some((e) => e.type === 'agent.log' && e.runId === id && e.text.startsWith('→ step 1')),
    );
    expect(worker.cancel(id)).toBe(true);
    const run = await ended(t, org, id);
    expect(run.status).toBe('cancelled');
    expect(run.error).toBe('cancelled: cancelled by the user');
    expect(holdState(ledger, id, sqlite)).toBe('voided');
    expect(await containersOf(docker, id)).toEqual([]);
    expect(alertsFor(sqlite, id)).toEqual([]);
    expect(worker.cancel(id)).toBe(false);

    await t.engine.queue.pause('agent.run');
    const queued = await submit(t, org, { prompt: 'never mind', maxSteps: 2 });
    expect(worker.cancel(queued)).toBe(true);
    expect(row(sqlite, queued)).toMatchObject({
      status: 'cancelled',
      error: expect.stringContaining('before it started'),
    });
    expect(holdState(ledger, queued, sqlite)).toBe('voided');
    await t.engine.queue.resume('agent.run');
    // The job still runs, finds the run ended, and leaves it alone.
    await until(async () => (await t.engine.queue.getJob('agent.run', queued))?.state === 'completed');
    expect(row(sqlite, queued).status).toBe('cancelled');
  });

  it('settles a run under the cycle it carries when it ends: a ledger sync may have moved it meanwhile', async () => {
    sim.script(MODEL, { type: 'hang' });
    const id = await submit(t, org, { prompt: 'wait for the sync', maxSteps: 2 });
    await until(() =>
      events.some((e) => e.type === 'agent.log' && e.runId === id && e.text.startsWith('→ step 1')),
    );
    const counters = (cycle: string) =>
      sqlite
        .prepare<[string, string], { ai_runs_held: number; ai_runs: number }>(
          `SELECT ai_runs_held, ai_runs FROM usage_counters WHERE org_id = ? AND cycle = ?`,
        )
        .get(org.orgId, cycle);
    const { cycle } = sqlite
      .prepare<[string], { cycle: string }>(`SELECT cycle FROM agent_runs WHERE id = ?`)
      .get(id)!;
    const held = counters(cycle)!.ai_runs_held;
    // What the sync's cycle move does (ledger/sync/authority.ts): the counters and the runs under way
    // take the server's label.
    sqlite.transaction(() => {
      sqlite
        .prepare(`UPDATE usage_counters SET cycle = 'moved' WHERE org_id = ? AND cycle = ?`)
        .run(org.orgId, cycle);
      sqlite
        .prepare(`UPDATE agent_runs SET cycle = 'moved' WHERE org_id = ? AND cycle = ?`)
        .run(org.orgId, cycle);
    })();
    expect(worker.cancel(id)).toBe(true);
    expect((await ended(t, org, id)).status).toBe('cancelled');
    // The run gave its count back under the label it carries now (settled under the old one, it
    // stayed held for good: a Free org's included run used up by a cancelled run).
    expect(counters('moved')!.ai_runs_held).toBe(held - 1);
    // Back under the engine's own cycle, for the tests after this one.
    sqlite
      .prepare(`UPDATE usage_counters SET cycle = ? WHERE org_id = ? AND cycle = 'moved'`)
      .run(cycle, org.orgId);
    sqlite
      .prepare(`UPDATE agent_runs SET cycle = ? WHERE org_id = ? AND cycle = 'moved'`)
      .run(cycle, org.orgId);
  });

  it('recover() ends the runs a crashed engine left running, removes their cages and releases their holds', async () => {
    await t.engine.queue.pause('agent.run');
    const id = await submit(t, org, { prompt: 'crash during me', maxSteps: 2 });
    // What a killed engine leaves: the run `running` with its hold, and its labelled container.
    sqlite
      .prepare(`UPDATE agent_runs SET status = 'running', started_at = ? WHERE id = ?`)
      .run(Date.now(), id);
    await docker.createContainer(cageContainerSpec(cage.options, { runId: id, runtime: undefined }));
    expect(await containersOf(docker, id)).toHaveLength(1);

    expect(await worker.recover()).toBe(1);
    const run = await t.engine.call('agents:get', { id }, org.apiKey);
    expect(run.status).toBe('error');
    expect(run.error).toBe(
      'the engine stopped while the run was in progress (its container was removed at restart)',
    );
    expect(holdState(ledger, id, sqlite)).toBe('voided');
    expect(await containersOf(docker, id)).toEqual([]);
    expect(alertsFor(sqlite, id)).toHaveLength(1);
    expect(await worker.recover()).toBe(0);

    await t.engine.queue.resume('agent.run');
    await until(async () => (await t.engine.queue.getJob('agent.run', id))?.state === 'completed');
    expect(row(sqlite, id).status).toBe('error');
  });

  it('when Docker is down: the run is an error with the reason, the hold is released, the job fails once', async () => {
    const down = cageEngine(createDockerClient('unix:///nonexistent/docker.sock'), sim.url, {
      image: cageImage,
      engineId: 'agent-worker-down',
    });
    await onOwnEngine(down, async (other, w, o) => {
      await submit(other, o, { prompt: 'free one', maxSteps: 1 });
      const id = await submit(other, o, { prompt: 'paid one', maxSteps: 1 });
      const run = await ended(other, o, id);
      expect(run.status).toBe('error');
      expect(run.error).toMatch(/^the cage could not be started: .*Docker/);
      expect(holdState(w.ledger, id, other.engine.db.sqlite)).toBe('voided');
      await until(async () => (await other.engine.queue.getJob('agent.run', id))?.state === 'failed');
      const job = await other.engine.queue.getJob('agent.run', id);
      expect(job).toMatchObject({ attemptsMade: 1, error: expect.stringContaining('could not be started') });
      expect(other.engine.ledger.balance(o.orgId)).toMatchObject({
        availableMicro: 10_000_000,
        pendingMicro: 0,
      });
    });
  });

  it('recover() gives up on a Docker that takes the connection and never answers: the start goes on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hung-docker-'));
    const sock = join(dir, 'docker.sock');
    const hung = createServer((c) => c.on('data', () => {}));
    await new Promise<void>((r) => hung.listen(sock, r));
    try {
      const silent = cageEngine(createDockerClient(`unix://${sock}`), sim.url, {
        image: cageImage,
        engineId: 'agent-worker-hung',
      });
      const w = createAgentWorker({
        sqlite,
        queue: t.engine.queue,
        cage: silent,
        charges: createCharges({ sqlite, ledger }),
        compliance: t.engine.compliance,
        events: createEventBus<Event>(),
        txEvents: createCommitEmitter(createEventBus<Event>(), () => sqlite.inTransaction),
        log: quietLog,
        defaultModel: MODEL,
        reapTimeoutMs: 300,
      });
      const started = performance.now();
      expect(await w.recover()).toBe(0);
      expect(performance.now() - started).toBeLessThan(5_000);
    } finally {
      hung.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stores and streams 100,000 lines of a runner intact and in order', async () => {
    const rogue = cageEngine(docker, sim.url, {
      image: await ensureRogueImage(docker, cageImage),
      engineId: 'agent-worker-flood',
    });
    await onOwnEngine(rogue, async (other, w, o) => {
      const lines = 100_000;
      const started = performance.now();
      const id = await submit(other, o, { prompt: `lines ${lines}`, maxSteps: 1 });
      expect(await ended(other, o, id)).toMatchObject({ status: 'success', output: `printed ${lines}` });
      const seconds = (performance.now() - started) / 1000;
      const db = other.engine.db.sqlite;
      const stored = db
        .prepare<[string], { text: string }>(
          `SELECT text FROM agent_run_logs WHERE run_id = ? AND stream = 'runner' ORDER BY seq`,
        )
        .all(id)
        .map((r) => r.text);
      expect(stored).toEqual(Array.from({ length: lines }, (_, i) => `line ${i + 1}`));
      const streamed = w.events.filter((e) => e.type === 'agent.log' && e.stream === 'runner');
      expect(streamed.map((e) => e.type === 'agent.log' && e.text)).toEqual(stored);
      console.info(
        `agent worker: ${lines} lines stored and streamed in ${seconds.toFixed(2)} s (${Math.round(lines / seconds)} lines/s, cage start included)`,
      );
    });
  });
});

/** A second engine (own database, queue and worker) around `cage`, with a Free org holding 10 credits. */
async function onOwnEngine(
  ownCage: CageEngine,
  fn: (other: TestEngine, w: ReturnType<typeof wire>, o: TestOrg) => Promise<void>,
  extra: Partial<AgentWorkerDeps> = {},
): Promise<void> {
  const other = await startTestEngine();
  try {
    const w = wire(other, ownCage, extra);
    const o = await other.org({ plan: 'free', credits: '10', instances: 0 });
    expect(await w.worker.recover()).toBe(0); // with Docker down, the reaper's failure is only logged
    w.worker.start();
    await fn(other, w, o);
  } finally {
    await other.dispose();
    await ownCage.close();
  }
}

/** The calls a fake Docker may answer, and its answers (a container that is there, then gone). */
const FAKE_ANSWERS = {
  create: { route: /^POST .*\/containers\/create/, status: 201, body: { Id: 'f'.repeat(64), Warnings: [] } },
  kill: { route: /^POST .*\/containers\/f+\/kill/, status: 204, body: undefined },
  inspect: { route: /^GET .*\/containers\/f+\/json/, status: 200, body: { State: { ExitCode: 137 } } },
  remove: { route: /^DELETE .*\/containers\/f+/, status: 204, body: undefined },
};

/**
 * A Docker daemon on a unix socket that takes every connection and answers only the calls in
 * `answer`: every other one (attach always) is held, never answered, as by a hung daemon.
 */
async function hungDocker(answer: (keyof typeof FAKE_ANSWERS)[]): Promise<{
  host: string;
  calls: string[];
  close(): Promise<void>;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'hung-docker-'));
  const sock = join(dir, 'docker.sock');
  const calls: string[] = [];
  const sockets = new Set<Socket>();
  const server = createHttpServer((req, res) => {
    const call = `${req.method} ${req.url}`;
    calls.push(call);
    const known = answer.map((k) => FAKE_ANSWERS[k]).find((a) => a.route.test(call));
    req.resume();
    if (known) req.on('end', () => res.writeHead(known.status).end(JSON.stringify(known.body ?? '')));
  });
  // attach asks for a connection upgrade: taken, never answered
  server.on('upgrade', (req) => calls.push(`${req.method} ${req.url}`));
  server.on('connection', (c) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
  });
  await new Promise<void>((r) => server.listen(sock, r));
  return {
    host: `unix://${sock}`,
    calls,
    async close() {
      for (const c of sockets) c.destroy();
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs on a Docker that never answers: only a cancel, the run's time limit or a deadline can end them. */
describe('agent.run worker on a hung Docker', () => {
  /** The Ollama address is never reached: these runs never get as far as a model call. */
  const NO_OLLAMA = 'http://127.0.0.1:9';

  /** Cancelled by its user with its hold voided: the org's 10 credits are all available again. */
  function expectCancelledAndReleased(other: TestEngine, w: ReturnType<typeof wire>, o: TestOrg, id: string) {
    const sqlite = other.engine.db.sqlite;
    expect(row(sqlite, id)).toMatchObject({ status: 'cancelled', error: 'cancelled: cancelled by the user' });
    expect(holdState(w.ledger, id, sqlite)).toBe('voided');
    expect(other.engine.ledger.balance(o.orgId)).toMatchObject({
      availableMicro: 10_000_000,
      pendingMicro: 0,
    });
  }

  async function onHungDocker(
    answer: Parameters<typeof hungDocker>[0],
    options: CageOptionsInput,
    fn: (
      other: TestEngine,
      w: ReturnType<typeof wire>,
      o: TestOrg,
      cage: CageEngine,
      fake: Awaited<ReturnType<typeof hungDocker>>,
    ) => Promise<void>,
  ): Promise<void> {
    const fake = await hungDocker(answer);
    const cage = cageEngine(createDockerClient(fake.host), NO_OLLAMA, { engineId: 'hung', ...options });
    try {
      await onOwnEngine(cage, (other, w, o) => fn(other, w, o, cage, fake), { reapTimeoutMs: 200 });
    } finally {
      await fake.close();
    }
  }

  it('a cancel ends a run whose attach Docker never answers at once, releasing its hold; so does close()', async () => {
    const answer = ['create', 'kill', 'inspect', 'remove'] as const;
    await onHungDocker([...answer], { dockerTimeoutMs: 60_000 }, async (other, w, o, cage, fake) => {
      const sqlite = other.engine.db.sqlite;
      const included = await submit(other, o, { prompt: 'free one', maxSteps: 1 });
      const paid = await submit(other, o, { prompt: 'paid one', maxSteps: 1 });
      expect(holdState(w.ledger, paid, sqlite)).toBe('pending');
      // Both containers made; both runs waiting on an attach Docker never answers.
      await until(() => fake.calls.filter((c) => c.includes('/attach')).length === 2);

      let started = performance.now();
      expect(w.worker.cancel(paid)).toBe(true);
      await until(() => row(sqlite, paid).status !== 'running', 5_000, 'the cancelled run to end');
      expect(performance.now() - started).toBeLessThan(1_000);
      expectCancelledAndReleased(other, w, o, paid);
      expect(readRunLog(sqlite, paid).map((l) => l.text)).toEqual(
        expect.arrayContaining(['container removed', 'run ended: cancelled (cancelled)']),
      );

      started = performance.now();
      await within(cage.close(), 5_000);
      expect(performance.now() - started).toBeLessThan(1_000);
      await until(() => row(sqlite, included).status !== 'running', 3_000, 'the other run to end');
      expect(row(sqlite, included).status).toBe('cancelled');
    });
  });

  it("the run's time limit ends a run whose attach Docker never answers; the stop gives up at the deadline", async () => {
    await onHungDocker(
      ['create'],
      { timeoutS: 1, dockerTimeoutMs: 1500 },
      async (other, w, o, _cage, fake) => {
        const sqlite = other.engine.db.sqlite;
        await submit(other, o, { prompt: 'free one', maxSteps: 1 });
        const id = await submit(other, o, { prompt: 'paid one', maxSteps: 1 });
        const started = performance.now();
        await until(() => !['queued', 'running'].includes(row(sqlite, id).status), 5_000, 'the run to end');
        expect(performance.now() - started).toBeLessThan(4_000);
        expect(row(sqlite, id)).toMatchObject({
          status: 'timeout',
          error: 'timeout: the run took longer than 1 s',
        });
        expect(holdState(w.ledger, id, sqlite)).toBe('voided');
        expect(fake.calls.some((c) => c.includes('/attach'))).toBe(true);
        // The kill got no answer: the rest is skipped, and the run's log says where its container went.
        expect(readRunLog(sqlite, id).map((l) => l.text)).toEqual(
          expect.arrayContaining([
            'stopping the container (timeout)',
            "could not remove the container (Docker did not answer within 1500 ms); the engine's next start removes it",
            'run ended: timeout (timeout)',
          ]),
        );
      },
    );
  });

  it('with CAGE_RUNTIME set, a cancel or close does not wait for Docker to answer about the runtime', async () => {
    await onHungDocker([], { runtime: 'runsc', dockerTimeoutMs: 60_000 }, async (other, w, o, cage, fake) => {
      const sqlite = other.engine.db.sqlite;
      const included = await submit(other, o, { prompt: 'free one', maxSteps: 1 });
      const paid = await submit(other, o, { prompt: 'paid one', maxSteps: 1 });
      await until(() => fake.calls.some((c) => c.includes('/info')), 5_000, 'the runtime check');
      await until(() => row(sqlite, paid).status === 'running', 5_000, 'the paid run to start');
      let started = performance.now();
      expect(w.worker.cancel(paid)).toBe(true);
      await until(() => row(sqlite, paid).status !== 'running', 5_000, 'the cancelled run to end');
      expect(performance.now() - started).toBeLessThan(1_000);
      expectCancelledAndReleased(other, w, o, paid);
      started = performance.now();
      await within(cage.close(), 5_000);
      expect(performance.now() - started).toBeLessThan(1_000);
      await until(() => row(sqlite, included).status !== 'running', 3_000, 'the other run to end');
      expect(row(sqlite, included).status).toBe('cancelled');
      expect(fake.calls.some((c) => c.includes('/containers/create'))).toBe(false);
    });
  });

  it('a container creation that gets no answer fails the run at the deadline, or cancels it if cancelled', async () => {
    await onHungDocker([], { dockerTimeoutMs: 1000 }, async (other, w, o, _cage, fake) => {
      const sqlite = other.engine.db.sqlite;
      const included = await submit(other, o, { prompt: 'free one', maxSteps: 1 });
      const paid = await submit(other, o, { prompt: 'paid one', maxSteps: 1 });
      await until(() => fake.calls.filter((c) => c.includes('/containers/create')).length === 2);
      // Docker may make the container all the same: its creation is waited for, to the deadline.
      expect(w.worker.cancel(paid)).toBe(true);
      await until(
        () => [included, paid].every((id) => row(sqlite, id).status !== 'running'),
        3_000,
        'the runs to end',
      );
      expect(row(sqlite, included)).toMatchObject({
        status: 'error',
        error:
          'the cage could not be started: Docker took the connection but did not answer within 1000 ms. Is it hung?',
      });
      expectCancelledAndReleased(other, w, o, paid);
    });
  });
});
