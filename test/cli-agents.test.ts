import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentRunSchema } from '../src-engine/contracts/agents.ts';
import { ensureDocker } from './support/docker.ts';
import { startOllamaSim, type OllamaSim } from './sim/ollama/index.ts';
import { containersOf, MODEL } from './cage/harness.ts';

/** `cage build` and `agents run` as an operator runs them: the real CLI, real Docker, the Ollama simulator. */
const ready = await ensureDocker();
const BIN = join(import.meta.dirname, '..', 'bin', 'agencia-desk-engine.js');

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

describe.skipIf(!ready.ok)('agencia-desk-engine cage build / agents run', () => {
  let dir: string;
  let sim: OllamaSim;
  let env: NodeJS.ProcessEnv;
  let docker: Docker;
  let baseImage: string;

  beforeAll(async () => {
    if (!ready.ok) return;
    ({ docker, baseImage } = ready);
    dir = mkdtempSync(join(tmpdir(), 'agencia-cli-agents-'));
    sim = await startOllamaSim();
    env = {
      ...process.env,
      AGENCIA_DATA_DIR: dir,
      REDIS_URL: '',
      OLLAMA_URL: sim.url,
      CAGE_IMAGE: ready.cageImage,
      CAGE_MEMORY_MB: '256',
    };
  });
  afterAll(async () => {
    await sim?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Async, not spawnSync: the Ollama simulator answers from this process's event loop. */
  function cli(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Ran> {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...env, ...extra } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += String(d)));
    child.stderr.on('data', (d) => (stderr += String(d)));
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    return new Promise((resolve) =>
      child.once('close', (status) => {
        clearTimeout(killer);
        resolve({ status, stdout, stderr });
      }),
    );
  }

  function seed(plan: string, credits?: string): string {
    const args = [BIN, 'seed', '--org', 'Agencia CLI', '--plan', plan, '--json'];
    if (credits) args.push('--credits', credits);
    const r = spawnSync(process.execPath, args, { env, encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { orgId: string }).orgId;
  }

  it('runs agents through the guard, printing their live log and result; charges the second; 402 without credit', async () => {
    const orgId = seed('free', '1');
    const first = await cli(['agents', 'run', '--org', orgId, '--prompt', 'say hello', '--max-steps', '3']);
    expect(first.status, first.stderr).toBe(0);
    const runId = /^Run (\S+) queued for org/m.exec(first.stdout)?.[1];
    expect(runId).toBeDefined();
    expect(first.stdout).toMatch(/^engine +container [0-9a-f]{12} created from /m);
    expect(first.stdout).toMatch(/^runner +runner ready: protocol 1/m);
    expect(first.stdout).toMatch(/^llm +/m);
    expect(first.stdout).toContain(`Run ${runId}: success\necho: say hello\nsteps 1/3`);

    // --json: the run on stdout, the log on stderr; the Free plan's second run costs 1 credit.
    sim.script(MODEL, { type: 'tool_call', name: 'finish', arguments: { output: 'from the cli' } });
    const second = await cli(['agents', 'run', '--org', orgId, '--prompt', 'again', '--json']);
    expect(second.status, second.stderr).toBe(0);
    const run = AgentRunSchema.parse(JSON.parse(second.stdout));
    expect(run).toMatchObject({
      orgId,
      status: 'success',
      output: 'from the cli',
      reservationId: expect.any(String),
    });
    expect(second.stderr).toMatch(/^runner +runner ready/m);
    expect(await containersOf(docker, run.id)).toEqual([]);

    const broke = await cli(['agents', 'run', '--org', orgId, '--prompt', 'one more']);
    expect(broke.status).toBe(1);
    expect(broke.stderr).toMatch(/Error \(INSUFFICIENT_CREDITS\)/);
  });

  it('refuses bad flags, an unknown org, and a data dir whose engine is running', async () => {
    const orgId = seed('starter');
    const noPrompt = await cli(['agents', 'run', '--org', orgId]);
    expect(noPrompt.status).toBe(2);
    expect(noPrompt.stderr).toContain('--prompt is required');
    const badSteps = await cli(['agents', 'run', '--org', orgId, '--prompt', 'x', '--max-steps', 'lots']);
    expect(badSteps.status).toBe(2);
    expect(badSteps.stderr).toMatch(/maxSteps/);
    const unknown = await cli(['agents', 'run', '--org', randomUUID(), '--prompt', 'x']);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/Error \(NOT_FOUND\)/);

    // A live process holds the data dir (this test's own pid stands for a running engine).
    const other = mkdtempSync(join(tmpdir(), 'agencia-cli-locked-'));
    try {
      writeFileSync(join(other, 'engine.lock'), `${process.pid}\n`);
      const locked = await cli(['agents', 'run', '--org', orgId, '--prompt', 'x'], {
        AGENCIA_DATA_DIR: other,
      });
      expect(locked.status).toBe(1);
      expect(locked.stderr).toContain(`The engine is running on ${other} (pid ${process.pid})`);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('cage build builds CAGE_IMAGE on a local base, printing progress; a bad base fails with exit code 1', async () => {
    const tag = `agencia-cage-clitest:${randomUUID().slice(0, 8)}`;
    try {
      const built = await cli(['cage', 'build', '--base', baseImage], { CAGE_IMAGE: tag });
      expect(built.status, built.stderr).toBe(0);
      expect(built.stdout).toContain(`Building the cage image ${tag} on ${baseImage}`);
      expect(built.stdout).toMatch(/Step \d+\/\d+ : FROM/);
      expect(built.stdout).toMatch(new RegExp(`^Built ${tag}$`, 'm'));
      const image = await docker.getImage(tag).inspect();
      expect(image.Config.User).toBe('10001:10001');
    } finally {
      await docker
        .getImage(tag)
        .remove()
        .catch(() => {});
    }
    const bad = await cli(['cage', 'build', '--base', 'Not-A-Valid-Reference'], { CAGE_IMAGE: tag });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/cage build failed/);
    expect(await cli(['cage', 'frob'])).toMatchObject({ status: 2 });
  });
});
