import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CageEngine } from '../../src-engine/cage/index.ts';
import { ensureDocker } from '../support/docker.ts';
import { startOllamaSim, type OllamaSim } from '../sim/ollama/index.ts';
import { cageEngine, containersOf, runLogged } from './harness.ts';
import { ensureRogueImage } from './rogue-image.ts';

/**
 * Runners that break the protocol (test/cage/fixtures/rogue-runner.mjs, in a cage image with the
 * same hardening): the engine must stay healthy, bounded in memory, and end each run rightly.
 */
const env = await ensureDocker();

const MIB = 1024 * 1024;

describe.skipIf(!env.ok)('rogue runners', () => {
  let docker: Docker;
  let sim: OllamaSim;
  let rogueImage: string;
  let rogue: CageEngine;

  beforeAll(async () => {
    if (!env.ok) return;
    docker = env.docker;
    sim = await startOllamaSim();
    rogueImage = await ensureRogueImage(docker, env.cageImage);
    rogue = cageEngine(docker, sim.url, { image: rogueImage, engineId: 'rogue-tests' });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('stops a runner that floods stdout at the output limit, with the engine’s memory bounded', async () => {
    const engine = cageEngine(docker, sim.url, {
      image: rogueImage,
      engineId: 'rogue-tests',
      maxOutputBytes: 64 * MIB,
    });
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    let count = 0;
    const run = await engine.run(
      { runId: `flood-${Date.now()}`, prompt: 'flood', model: 'm', maxSteps: 1 },
      {
        onLog: () => {
          if (++count % 10_000 === 0) peak = Math.max(peak, process.memoryUsage().rss);
        },
      },
    );
    expect(run).toMatchObject({ status: 'error', failure: 'output_limit' });
    expect(run.output).toBe(`the runner wrote more than ${64 * MIB} bytes`);
    // ~130-byte lines: the flood really went through the engine, past the record cap: 200,000
    // records, the one saying so, then the stop, the kill, the removal and the end.
    expect(count).toBe(200_005);
    expect(run.droppedLogRecords).toBeGreaterThan(200_000);
    expect(peak - rssBefore).toBeLessThan(100 * MIB);
    expect(await containersOf(docker, run.runId)).toEqual([]);
  });

  it('slows a flooding runner down to a slow log consumer instead of buffering', async () => {
    const engine = cageEngine(docker, sim.url, {
      image: rogueImage,
      engineId: 'rogue-tests',
      maxLogRecords: 1_000_000,
    });
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const seqs: number[] = [];
    const run = await engine.run(
      { runId: `slow-${Date.now()}`, prompt: 'flood', model: 'm', maxSteps: 1, timeoutS: 2 },
      {
        // A consumer of some 25,000 records/s, far slower than the runner writes.
        onLog: (r) => {
          seqs.push(r.seq);
          if (r.seq % 1000 === 0) peak = Math.max(peak, process.memoryUsage().rss);
          return r.seq % 500 === 0 ? new Promise((resolve) => setTimeout(resolve, 20)) : undefined;
        },
      },
    );
    // Still running at the deadline: the runner was held to the consumer's pace, not buffered for.
    expect(run).toMatchObject({ status: 'timeout', failure: 'timeout', droppedLogRecords: 0 });
    expect(seqs.length).toBeLessThan(150_000);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(peak - rssBefore).toBeLessThan(50 * MIB);
  });

  it('delivers 20,000 lines intact and in order, and measures the rate', async () => {
    const lines: string[] = [];
    const started = Date.now();
    const run = await runLogged(
      rogue,
      { prompt: 'lines 20000' },
      { onLog: (r) => void (r.stream === 'runner' && lines.push(r.text)) },
    );
    const ms = Date.now() - started;
    expect(run.result).toMatchObject({ status: 'success', output: 'printed 20000', droppedLogRecords: 0 });
    expect(lines).toEqual(Array.from({ length: 20_000 }, (_, i) => `line ${i + 1}`));
    console.info(
      `[cage] 20,000 log lines in ${ms} ms (whole run, container included): ${Math.round(20_000 / (ms / 1000))} lines/s`,
    );
  });

  it('still gets every line and the result when a slow consumer lags behind a runner that has exited', async () => {
    const lines: string[] = [];
    const run = await runLogged(
      rogue,
      { prompt: 'lines 8000' },
      {
        onLog: (r) => {
          if (r.stream === 'runner') lines.push(r.text);
          // 4 s of consuming in all: the runner is gone long before the engine has read its output.
          return r.seq % 1000 === 0 ? new Promise((resolve) => setTimeout(resolve, 500)) : undefined;
        },
      },
    );
    expect(run.result).toMatchObject({ status: 'success', output: 'printed 8000', exitCode: 0 });
    expect(lines).toHaveLength(8000);
  });

  it('keeps at most maxLogRecords records, says so, and still notes how the run ended', async () => {
    const engine = cageEngine(docker, sim.url, {
      image: rogueImage,
      engineId: 'rogue-tests',
      maxLogRecords: 100,
    });
    const run = await runLogged(engine, { prompt: 'lines 500' });
    expect(run.records[100]?.text).toBe(
      'log limit reached (100 records): further output is not recorded, only how the run ends',
    );
    const after = run.records.slice(101);
    expect(after.map((r) => r.text)).toEqual([
      expect.stringMatching(/^result: success/),
      'container removed',
      'run ended: success',
    ]);
    expect(run.result).toMatchObject({ status: 'success', logRecords: 104 });
    expect(run.result.droppedLogRecords).toBeGreaterThan(400);
  });

  it('drops a line longer than the limit and reads on after it', async () => {
    const run = await runLogged(rogue, { prompt: 'giant 3' });
    expect(run.text).toContain(`dropped a runner line of ${3 * MIB} bytes (limit ${MIB})`);
    expect(run.result).toMatchObject({ status: 'success', output: 'after the giant line' });
  });

  it('ignores garbage lines, noting the first ones and counting the rest', async () => {
    const run = await runLogged(rogue, { prompt: 'garbage 500' });
    const notes = run.records.filter((r) => r.text.startsWith('ignored a line'));
    expect(notes).toHaveLength(20);
    expect(notes[1]?.text).toBe('ignored a line that is not a protocol message: not json 1');
    expect(run.text).toContain('further ignored lines are only counted');
    expect(run.text).toContain('still here');
    expect(run.result).toMatchObject({ status: 'success', output: 'after the garbage' });
  });

  it('stops a runner that asks twice without waiting for the answer', async () => {
    const run = await runLogged(rogue, { prompt: 'double' });
    expect(run.result).toMatchObject({ status: 'error', failure: 'protocol' });
  });

  it('stops a runner that claims tool calls the model never asked for', async () => {
    const run = await runLogged(rogue, { prompt: 'tools' });
    expect(run.result).toMatchObject({ status: 'error', failure: 'step_limit', toolCalls: 1 });
    expect(run.result.output).toBe('the runner started tool call 1, but the model asked for 0');
  });

  it('counts steps itself, whatever the runner reports', async () => {
    const run = await runLogged(rogue, { prompt: 'lie' });
    expect(run.result).toMatchObject({ status: 'success', stepsUsed: 1 });
    expect(run.text).toContain('result: success (runner says 0 steps; engine counted 1)');
  });

  it('reports a runner that dies without a result, with its exit code and last stderr', async () => {
    const run = await runLogged(rogue, { prompt: 'crash' });
    expect(run.result).toMatchObject({ status: 'error', failure: 'exited', exitCode: 3 });
    expect(run.result.output).toBe('the runner exited with code 3 without a result: rogue: something broke');
    expect(run.records).toContainEqual(
      expect.objectContaining({ stream: 'stderr', text: 'rogue: something broke' }),
    );
  });
});
