import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cageContainerSpec, LABEL_RUN, type CageEngine } from '../../src-engine/cage/index.ts';
import { CageOptionsSchema } from '../../src-engine/contracts/cage.ts';
import { AppError } from '../../src-engine/errors.ts';
import { ensureDocker } from '../support/docker.ts';
import { promptTokens, startOllamaSim, tokens, type OllamaSim } from '../sim/ollama/index.ts';
import { cageEngine, containersOf, MODEL, runId, runLogged, toolOutputs, until } from './harness.ts';
import { ensureRogueImage } from './rogue-image.ts';

/** The cage engine against real Docker: container settings, lifecycle, limits, broker, reaper. */
const env = await ensureDocker();

describe.skipIf(!env.ok)('cage engine', () => {
  let docker: Docker;
  let sim: OllamaSim;
  let engine: CageEngine;
  let cageImage: string;
  let rogueImage: string;
  /** An engine whose image runs test/cage/fixtures/rogue-runner.mjs: the prompt names its misdeed. */
  let rogue: CageEngine;

  beforeAll(async () => {
    if (!env.ok) return;
    docker = env.docker;
    cageImage = env.cageImage;
    sim = await startOllamaSim();
    rogueImage = await ensureRogueImage(docker, env.cageImage);
    engine = cageEngine(docker, sim.url, { image: cageImage, engineId: 'engine-tests' });
    rogue = cageEngine(docker, sim.url, { image: rogueImage, engineId: 'engine-tests', cancelGraceMs: 300 });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('creates the container with every hardening setting and the configured runtime, and removes it after', async () => {
    const engine = cageEngine(docker, sim.url, {
      image: rogueImage,
      engineId: 'engine-tests',
      memoryMb: 300,
      cpus: 0.5,
      pidsLimit: 50,
      workspaceMb: 20,
      tmpMb: 10,
      runtime: 'runc', // a configured runtime that Docker has
    });
    const stop = new AbortController();
    const id = runId('inspect');
    const run = engine.run(
      { runId: id, prompt: 'silent', model: MODEL, maxSteps: 1 },
      { signal: stop.signal },
    );
    let found: Docker.ContainerInfo[] = [];
    await until(async () => (found = await containersOf(docker, id)).some((c) => c.State === 'running'));
    const info = await docker.getContainer(found[0]?.Id ?? '').inspect();
    stop.abort();
    const host = info.HostConfig;
    expect(host.NetworkMode).toBe('none');
    expect((info.Config as { NetworkDisabled?: boolean }).NetworkDisabled).toBe(true);
    expect(Object.keys(info.NetworkSettings.Networks).filter((n) => n !== 'none')).toEqual([]);
    expect(host.Memory).toBe(300 * 1024 * 1024);
    expect(host.MemorySwap).toBe(300 * 1024 * 1024);
    expect(host.NanoCpus).toBe(500_000_000);
    expect(host.PidsLimit).toBe(50);
    expect(host.ReadonlyRootfs).toBe(true);
    expect(host.Tmpfs).toEqual({
      '/workspace': 'rw,exec,nosuid,nodev,size=20m,uid=10001,gid=10001,mode=0700',
      '/tmp': 'rw,noexec,nosuid,nodev,size=10m,mode=1777',
    });
    expect(host.CapDrop).toEqual(['ALL']);
    expect(host.CapAdd ?? []).toEqual([]);
    expect(host.SecurityOpt).toEqual(['no-new-privileges']);
    expect(host.Privileged).toBe(false);
    expect(host.Init).toBe(true);
    expect(host.Runtime).toBe('runc');
    expect(host.IpcMode).toBe('private');
    expect((host as { CgroupnsMode?: string }).CgroupnsMode).toBe('private');
    expect(host.OomScoreAdj).toBe(500);
    expect(host.AutoRemove).toBe(false);
    expect(host.Binds ?? []).toEqual([]);
    expect(info.Mounts).toEqual([]);
    expect(host.Devices ?? []).toEqual([]);
    expect(host.LogConfig).toEqual({ Type: 'none', Config: {} });
    expect(info.Config.User).toBe('10001:10001');
    expect(info.Config.Labels).toMatchObject({
      'agencia.cage': '1',
      'agencia.run': id,
      'agencia.engine': 'engine-tests',
    });
    expect(info.Config.Env ?? []).not.toContainEqual(expect.stringMatching(/^DOCKER_|KEY|TOKEN|SECRET/));
    const result = await run;
    expect(result.status).toBe('cancelled');
    expect(await containersOf(docker, id)).toEqual([]);
  });

  it('runs a task through the Ollama simulator: shell call, its output back to the model, finish', async () => {
    sim.script(
      MODEL,
      {
        type: 'tool_call',
        name: 'shell',
        arguments: { command: 'echo "hello from $(id -un)" > greeting; cat greeting' },
      },
      { type: 'text', text: 'The command worked.\nNow I finish.' },
    );
    const seen = sim.chats.length;
    const run = await runLogged(engine, {
      prompt: 'Say hello from the cage.',
      tools: ['shell', 'read_file'],
    });
    const chats = sim.chats.slice(seen);
    expect(run.result).toMatchObject({
      status: 'success',
      failure: null,
      output: 'The command worked.\nNow I finish.',
    });
    expect(run.result.stepsUsed).toBe(2);
    expect(run.result.toolCalls).toBe(1);
    expect(run.result.exitCode).toBe(0);
    expect(toolOutputs(run)).toEqual([
      expect.stringMatching(/^✓ shell \(\d+ ms\)\nexit code 0\nhello from cage\n$/),
    ]);
    // What the model saw: the tools on offer, then the tool's output as a `tool` message.
    expect(chats).toHaveLength(2);
    expect(chats.map((c) => c.model)).toEqual([MODEL, MODEL]);
    expect(chats[0]?.tools?.map((t) => t.function.name)).toEqual(['shell', 'read_file', 'finish']);
    expect(chats[1]?.messages.at(-1)).toMatchObject({
      role: 'tool',
      tool_name: 'shell',
      content: 'exit code 0\nhello from cage\n',
    });
    // Tokens: the simulator's own counts (prompt chars / 4, one per streamed chunk), summed by the engine.
    expect(run.result.tokensOut).toBe(1 + tokens('The command worked.\nNow I finish.').length);
    expect(run.result.tokensIn).toBe(chats.reduce((n, c) => n + promptTokens(c), 0));
    // The log: numbered 1..n in order; the runner's line, the model's streamed text line by line.
    expect(run.records.map((r) => r.seq)).toEqual(run.records.map((_, i) => i + 1));
    expect(run.records.find((r) => r.stream === 'runner')?.text).toMatch(
      /^runner ready: protocol 1, node v22\.\d+\.\d+, uid 10001$/,
    );
    expect(run.records.filter((r) => r.stream === 'llm').map((r) => r.text)).toEqual(
      expect.arrayContaining(['The command worked.', 'Now I finish.']),
    );
    expect(run.result.firstLineMs).toBeGreaterThan(0);
    expect(await containersOf(docker, run.result.runId)).toEqual([]);
    console.info(
      `[cage] start -> first runner line: ${run.result.firstLineMs} ms; whole run: ${run.result.durationMs} ms`,
    );
  });

  it('stops the run mid-answer when the token budget is spent', async () => {
    const abandoned = sim.abandoned;
    sim.script(MODEL, {
      type: 'text',
      text: Array.from({ length: 300 }, (_, i) => `word${i}`).join(' '),
      delayMs: 1,
    });
    const run = await runLogged(engine, { prompt: 'talk a lot', tokenBudget: 40 });
    expect(run.result).toMatchObject({ status: 'error', failure: 'token_budget' });
    expect(run.result.output).toBe("the run's token budget (40 tokens) is spent");
    expect(run.result.tokensOut).toBe(41);
    await until(() => sim.abandoned > abandoned, 2000, 'the simulator to see the call abandoned');
  });

  it('stops the run when the final count of a call passes the budget', async () => {
    sim.script(
      MODEL,
      { type: 'tool_call', name: 'shell', arguments: { command: 'true' } },
      { type: 'tool_call', name: 'shell', arguments: { command: 'true' } },
    );
    const engine = cageEngine(docker, sim.url, {
      image: cageImage,
      tokenBudget: 300,
      engineId: 'engine-tests',
    });
    const run = await runLogged(engine, { prompt: 'p', tools: ['shell'] });
    expect(run.result).toMatchObject({ status: 'error', failure: 'token_budget', stepsUsed: 2 });
    expect(run.result.tokensIn + run.result.tokensOut).toBeGreaterThan(300);
    expect(toolOutputs(run)).toHaveLength(1);
  });

  it.each([
    {
      what: 'a model that is not installed',
      model: 'nope:1b',
      reply: undefined,
      message: /"nope:1b" is not installed in Ollama.*ollama pull nope:1b/,
    },
    {
      what: 'an HTTP 500',
      model: MODEL,
      reply: { type: 'http_error', status: 500, error: 'CUDA out of memory' },
      message: /Ollama failed \(HTTP 500\): CUDA out of memory/,
    },
    {
      what: 'an error mid-stream',
      model: MODEL,
      reply: { type: 'stream_error', error: 'model runner crashed', text: 'I will' },
      message: /stopped in the middle of the answer: model runner crashed/,
    },
  ] as const)('turns $what from Ollama into a clear run error', async ({ model, reply, message }) => {
    if (reply) sim.script(MODEL, reply);
    const run = await runLogged(engine, { prompt: 'p', model });
    expect(run.result).toMatchObject({ status: 'error', failure: 'llm_error' });
    expect(run.result.output).toMatch(message);
    expect(await containersOf(docker, run.result.runId)).toEqual([]);
  });

  it('turns an unreachable Ollama into a clear run error', async () => {
    const offline = cageEngine(docker, 'http://127.0.0.1:9', { image: cageImage, engineId: 'engine-tests' });
    const run = await runLogged(offline, { prompt: 'p' });
    expect(run.result).toMatchObject({ status: 'error', failure: 'llm_error' });
    expect(run.result.output).toMatch(/^Cannot reach Ollama at 127\.0\.0\.1:9\b.*Is it running\?$/);
  });

  it('ends a run whose runner uses up maxSteps without finishing', async () => {
    sim.script(
      MODEL,
      { type: 'tool_call', name: 'shell', arguments: { command: 'echo 1' } },
      { type: 'tool_call', name: 'shell', arguments: { command: 'echo 2' } },
    );
    const run = await runLogged(engine, { prompt: 'loop', tools: ['shell'], maxSteps: 2 });
    expect(run.result).toMatchObject({
      status: 'error',
      failure: 'runner_error',
      stepsUsed: 2,
      toolCalls: 2,
    });
    expect(run.result.output).toBe('stopped after 2 steps without finishing');
  });

  it('enforces maxSteps itself against a runner that keeps asking', async () => {
    const run = await runLogged(rogue, { prompt: 'steps', maxSteps: 3 });
    expect(run.result).toMatchObject({ status: 'error', failure: 'step_limit', stepsUsed: 3 });
    expect(sim.pending(MODEL)).toBe(0);
  });

  it('kills and removes a runner that never answers when the run times out', async () => {
    const started = Date.now();
    const run = await runLogged(rogue, { prompt: 'silent', timeoutS: 1 });
    expect(run.result).toMatchObject({
      status: 'timeout',
      failure: 'timeout',
      output: 'the run took longer than 1 s',
    });
    expect(run.result.exitCode).toBe(137);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await containersOf(docker, run.result.runId)).toEqual([]);
  });

  it('cancels a run: the real runner stops its tool and answers at once', async () => {
    sim.script(MODEL, { type: 'tool_call', name: 'shell', arguments: { command: 'sleep 30' } });
    const stop = new AbortController();
    const started = Date.now();
    const run = await runLogged(
      engine,
      { prompt: 'wait', tools: ['shell'] },
      {
        signal: stop.signal,
        onLog: (r) => {
          if (r.text.startsWith('▶ shell')) setTimeout(() => stop.abort(), 100);
        },
      },
    );
    expect(run.result).toMatchObject({
      status: 'cancelled',
      failure: 'cancelled',
      output: 'cancelled: cancelled by the user',
    });
    expect(toolOutputs(run)[0]).toMatch(/^✗ shell .*\nstopped: the run is ending/);
    expect(run.result.exitCode).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await containersOf(docker, run.result.runId)).toEqual([]);
  });

  it('kills a runner that ignores the cancel after the grace time', async () => {
    const stop = new AbortController();
    const run = await runLogged(
      rogue,
      { prompt: 'stubborn' },
      {
        signal: stop.signal,
        onLog: (r) => {
          if (r.stream === 'runner') stop.abort();
        },
      },
    );
    expect(run.result).toMatchObject({
      status: 'cancelled',
      failure: 'cancelled',
      output: 'cancelled',
      exitCode: 137,
    });
    expect(await containersOf(docker, run.result.runId)).toEqual([]);
  });

  it('runs at most `concurrency` cages at once and queues the rest; a queued run can be cancelled', async () => {
    const limited = cageEngine(docker, sim.url, {
      image: rogueImage,
      concurrency: 2,
      engineId: 'engine-tests',
      cancelGraceMs: 100,
    });
    const stops = [new AbortController(), new AbortController(), new AbortController()];
    const ids = stops.map(() => runId('conc'));
    const runs = ids.map((id, i) =>
      limited.run({ runId: id, prompt: 'silent', model: MODEL, maxSteps: 1 }, { signal: stops[i]?.signal }),
    );
    await until(
      async () => (await Promise.all(ids.map((id) => containersOf(docker, id)))).flat().length === 2,
    );
    expect(limited.stats()).toEqual({ running: 2, queued: 1 });
    expect(await containersOf(docker, ids[2] ?? '')).toEqual([]);
    stops[2]?.abort();
    expect(await runs[2]).toMatchObject({
      status: 'cancelled',
      output: 'cancelled before start',
      firstLineMs: null,
    });
    stops[0]?.abort();
    stops[1]?.abort();
    expect((await Promise.all(runs)).map((r) => r.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    expect(limited.stats()).toEqual({ running: 0, queued: 0 });
  });

  it('reaps the containers a crashed engine left, only its own, and reports their runs', async () => {
    const options = CageOptionsSchema.parse({ image: rogueImage, engineId: 'crashed-engine' });
    const mine = [runId('left'), runId('left')];
    const theirs = runId('other');
    const create = (id: string, engineId: string) =>
      docker.createContainer(cageContainerSpec({ ...options, engineId }, { runId: id }));
    const started = await create(mine[0] ?? '', 'crashed-engine');
    await started.start();
    await create(mine[1] ?? '', 'crashed-engine'); // created, never started
    const other = await create(theirs, 'another-engine');
    try {
      const reaper = cageEngine(docker, sim.url, { image: rogueImage, engineId: 'crashed-engine' });
      const reaped = await reaper.reap();
      expect(reaped.map((r) => r.runId).sort()).toEqual([...mine].sort());
      expect(reaped.map((r) => r.state).sort()).toEqual(['created', 'running']);
      for (const id of mine) expect(await containersOf(docker, id)).toEqual([]);
      expect(await containersOf(docker, theirs)).toHaveLength(1);
      expect(await reaper.reap()).toEqual([]);
    } finally {
      await other.remove({ force: true });
    }
  });

  it('leaves nothing behind after an engine is killed mid-run and a new one starts', async () => {
    const id = runId('crash');
    const fixture = fileURLToPath(new URL('./fixtures/crash-engine.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, rogueImage, id, 'crash-tests'], {
      stdio: 'inherit',
    });
    try {
      await until(
        async () => (await containersOf(docker, id)).some((c) => c.State === 'running'),
        20_000,
        'the cage',
      );
    } finally {
      child.kill('SIGKILL');
    }
    await new Promise((r) => child.once('exit', r));
    expect(await containersOf(docker, id)).toHaveLength(1); // the crash left it running
    const restarted = cageEngine(docker, sim.url, { image: rogueImage, engineId: 'crash-tests' });
    expect((await restarted.reap()).map((r) => r.runId)).toEqual([id]);
    expect(await containersOf(docker, id)).toEqual([]);
  });

  it('refuses to start without its image or a configured runtime, and says why', async () => {
    const noImage = cageEngine(docker, sim.url, {
      image: 'agencia-cage-test:missing',
      engineId: 'engine-tests',
    });
    await expect(noImage.run({ runId: runId('x'), prompt: 'p', model: MODEL, maxSteps: 1 })).rejects.toThrow(
      /cage image "agencia-cage-test:missing" is not built.*cage build/,
    );
    expect(await noImage.health()).toEqual({
      status: 'unhealthy',
      reason: 'cage image agencia-cage-test:missing missing: run agencia-desk-engine cage build',
      detail: { code: 'cage_image_missing', image: 'agencia-cage-test:missing' },
    });
    const noRuntime = cageEngine(docker, sim.url, {
      image: rogueImage,
      runtime: 'runsc-missing',
      engineId: 'engine-tests',
    });
    const id = runId('rt');
    const refused = noRuntime.run({ runId: id, prompt: 'silent', model: MODEL, maxSteps: 1 });
    await expect(refused).rejects.toBeInstanceOf(AppError);
    await expect(refused).rejects.toThrow(
      /CAGE_RUNTIME is "runsc-missing" but Docker has no such runtime \(it has: .*runc/,
    );
    expect(await containersOf(docker, id)).toEqual([]);
    expect(await noRuntime.health()).toEqual({
      status: 'unhealthy',
      reason: expect.stringMatching(/^CAGE_RUNTIME is "runsc-missing" but Docker has no such runtime/),
      detail: {
        code: 'cage_runtime_missing',
        runtime: 'runsc-missing',
        available: expect.arrayContaining(['runc']),
      },
    });
    expect(await engine.health()).toEqual({
      status: 'healthy',
      reason: `cage image ${engine.options.image} present`,
      detail: { code: 'cage_ready', image: engine.options.image },
    });
  });

  it('cancels every run on close, removes their containers, and refuses new runs', async () => {
    const closing = cageEngine(docker, sim.url, {
      image: rogueImage,
      engineId: 'engine-tests',
      cancelGraceMs: 100,
    });
    const id = runId('close');
    const run = closing.run({ runId: id, prompt: 'silent', model: MODEL, maxSteps: 1 });
    await until(async () => (await containersOf(docker, id)).some((c) => c.State === 'running'));
    await closing.close();
    expect(await run).toMatchObject({ status: 'cancelled' });
    expect(await containersOf(docker, id)).toEqual([]);
    await expect(
      closing.run({ runId: runId('late'), prompt: 'p', model: MODEL, maxSteps: 1 }),
    ).rejects.toThrow(/shutting down/);
  });

  it('refuses a second run with the same id while the first runs', async () => {
    const stop = new AbortController();
    const id = runId('dup');
    const first = rogue.run(
      { runId: id, prompt: 'silent', model: MODEL, maxSteps: 1 },
      { signal: stop.signal },
    );
    await expect(rogue.run({ runId: id, prompt: 'silent', model: MODEL, maxSteps: 1 })).rejects.toThrow(
      /already running/,
    );
    stop.abort();
    expect((await first).status).toBe('cancelled');
    expect(await docker.listContainers({ all: true, filters: { label: [`${LABEL_RUN}=${id}`] } })).toEqual(
      [],
    );
  });
});
