import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bundleRunner } from '../../cage/build.ts';
import {
  RunnerMessageSchema,
  TOOL_OUTPUT_MAX_BYTES,
  type EngineMessage,
  type RunnerMessageParsed,
} from '../../src-engine/contracts/cage.ts';

/**
 * The bundled runner as a plain process on this machine (no Docker), driven over its stdio by
 * the test playing the engine's side of cage/PROTOCOL.md. Fast checks of the runner's own logic;
 * the cage itself is tested in escape.test.ts.
 */
let dir: string;
let bundle: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agencia-runner-'));
  bundle = join(dir, 'runner.mjs');
  await writeFile(bundle, await bundleRunner());
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Msg<T extends RunnerMessageParsed['type']> = Extract<RunnerMessageParsed, { type: T }>;

class Peer {
  readonly messages: RunnerMessageParsed[] = [];
  readonly exited: Promise<number | null>;
  private buffer = '';
  private readonly listeners = new Set<() => void>();
  private answered = 0;

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      this.buffer += s;
      let nl;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        // Every line the runner writes must be a valid protocol message.
        this.messages.push(RunnerMessageSchema.parse(JSON.parse(line)));
        for (const listener of [...this.listeners]) listener();
      }
    });
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  send(message: EngineMessage | string): void {
    this.child.stdin.write(typeof message === 'string' ? message : `${JSON.stringify(message)}\n`);
  }

  /** The n-th message of a type (from 1), when it arrives. */
  nth<T extends RunnerMessageParsed['type']>(type: T, n: number): Promise<Msg<T>> {
    const pick = () => this.messages.filter((m): m is Msg<T> => m.type === type)[n - 1];
    return new Promise((resolve) => {
      const check = (): void => {
        const found = pick();
        if (!found) return;
        this.listeners.delete(check);
        resolve(found);
      };
      this.listeners.add(check);
      check();
    });
  }

  next<T extends RunnerMessageParsed['type']>(type: T): Promise<Msg<T>> {
    return this.nth(type, 1);
  }

  logs(): string[] {
    return this.messages.flatMap((m) => (m.type === 'log' ? [m.text] : []));
  }

  /** Answers the next model request with these tool calls, or with plain text. */
  async answer(calls: { name: string; arguments: Record<string, unknown> }[] | string): Promise<void> {
    const req = await this.nth('llm_request', ++this.answered);
    this.send({
      type: 'llm_response',
      requestId: req.requestId,
      message:
        typeof calls === 'string'
          ? { role: 'assistant', content: calls }
          : { role: 'assistant', content: '', tool_calls: calls.map((c) => ({ function: c })) },
      usage: { promptTokens: 1, completionTokens: 1 },
    });
  }
}

const peers: Peer[] = [];
let workspace: string;

async function startRunner(): Promise<Peer> {
  workspace = await mkdtemp(join(dir, 'ws-'));
  const child = spawn(process.execPath, [bundle], {
    env: { ...process.env, AGENCIA_WORKSPACE: workspace },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const peer = new Peer(child);
  peers.push(peer);
  return peer;
}

const task = (over: Partial<Extract<EngineMessage, { type: 'task' }>> = {}): EngineMessage => ({
  type: 'task',
  taskId: 't1',
  prompt: 'do it',
  model: 'm',
  maxSteps: 5,
  tools: ['shell', 'read_file', 'write_file'],
  ...over,
});

/** A process that is gone or a zombie (killed, not yet reaped by whoever adopted it). */
async function dead(pid: number): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    if (stat === '' || /^\d+ \(.*\) Z /.test(stat)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

afterEach(() => {
  for (const p of peers.splice(0)) p.child.kill('SIGKILL');
});

describe('cage runner', () => {
  it('says it is ready, then runs the tool loop to a single result', async () => {
    const peer = await startRunner();
    expect((await peer.next('log')).text).toMatch(/^runner ready: protocol 1/);
    peer.send(task());
    const first = await peer.next('llm_request');
    expect(first.messages.map((m) => m.role)).toEqual(['system', 'user']);
    expect(first.messages[1]?.content).toBe('do it');
    expect(first.tools.map((t) => t.function.name)).toEqual(['shell', 'read_file', 'write_file', 'finish']);
    await peer.answer([{ name: 'write_file', arguments: { path: 'out/hello.txt', content: 'hi there' } }]);
    const end = await peer.next('tool_end');
    expect(end).toMatchObject({ tool: 'write_file', ok: true, output: 'wrote 8 bytes to out/hello.txt' });
    await peer.answer([{ name: 'finish', arguments: { output: 'wrote it' } }]);
    expect(await peer.next('result')).toEqual({
      type: 'result',
      status: 'success',
      output: 'wrote it',
      stepsUsed: 2,
    });
    expect(await peer.exited).toBe(0);
    expect(await readFile(join(workspace, 'out/hello.txt'), 'utf8')).toBe('hi there');
    expect(peer.messages.filter((m) => m.type === 'result')).toHaveLength(1);
    // The second request carried the tool's result back to the model.
    const second = peer.messages.filter((m) => m.type === 'llm_request')[1];
    expect(second?.type === 'llm_request' && second.messages.at(-1)).toEqual({
      role: 'tool',
      tool_name: 'write_file',
      content: 'wrote 8 bytes to out/hello.txt',
    });
  });

  it('logs and ignores garbage, oversized lines, bad tasks and unexpected answers', async () => {
    const peer = await startRunner();
    peer.send('this is not json\n');
    peer.send(`${'z'.repeat(1_100_000)}\n`);
    peer.send({ type: 'task', taskId: 't', prompt: '', model: 'm', maxSteps: 0, tools: [] } as never);
    peer.send(task({ tools: [] }));
    await peer.next('llm_request');
    peer.send(task());
    peer.send({ type: 'llm_response', requestId: 'nope', message: { role: 'assistant', content: 'x' } });
    await peer.answer('just text');
    expect(await peer.next('result')).toMatchObject({ status: 'success', output: 'just text', stepsUsed: 1 });
    expect(peer.logs()).toEqual([
      expect.stringMatching(/^runner ready/),
      'ignored an input line that is not a protocol message: this is not json',
      'ignored an input line of 1100000 bytes (limit 1048576)',
      expect.stringMatching(/^ignored an invalid task: /),
      expect.stringMatching(/^ignored a second task: /),
      expect.stringMatching(/^ignored an unexpected llm_response: .*"nope"/),
    ]);
  });

  it('kills a shell command at its timeout, with its whole process group', async () => {
    const peer = await startRunner();
    peer.send(task({ toolTimeoutS: 1 }));
    await peer.answer([{ name: 'shell', arguments: { command: 'sleep 30 & echo $!; sleep 30' } }]);
    const end = await peer.next('tool_end');
    expect(end.ok).toBe(false);
    expect(end.output).toMatch(/^timed out after 1 s\n\d+\n$/);
    expect(end.durationMs).toBeLessThan(2500);
    expect(await dead(Number(end.output.split('\n')[1]))).toBe(true);
  });

  it('kills background jobs when a command returns, and caps its output', async () => {
    const peer = await startRunner();
    peer.send(task());
    await peer.answer([
      { name: 'shell', arguments: { command: 'sleep 30 & echo $!; yes | head -c 100000' } },
    ]);
    const end = await peer.next('tool_end');
    const pid = Number(end.output.split('\n')[1]);
    expect(end.ok).toBe(true);
    expect(await dead(pid)).toBe(true);
    expect(end.output).toMatch(/\n\[… \d+ more bytes omitted\]$/);
    expect(Buffer.byteLength(end.output)).toBeLessThan(TOOL_OUTPUT_MAX_BYTES + 100);
  });

  it('answers a cancel at once, stopping the running tool', async () => {
    const peer = await startRunner();
    peer.send(task());
    await peer.answer([{ name: 'shell', arguments: { command: 'sleep 30' } }]);
    await peer.next('tool_start');
    const sent = Date.now();
    peer.send({ type: 'cancel', reason: 'user pressed stop' });
    expect(await peer.next('result')).toEqual({
      type: 'result',
      status: 'error',
      output: 'cancelled: user pressed stop',
      stepsUsed: 1,
    });
    expect(Date.now() - sent).toBeLessThan(1000);
    expect(await peer.exited).toBe(0);
  });

  it('ends with an error when the engine answers a request with an error', async () => {
    const peer = await startRunner();
    peer.send(task());
    const req = await peer.next('llm_request');
    peer.send({ type: 'llm_response', requestId: req.requestId, error: 'the model is not installed' });
    expect(await peer.next('result')).toMatchObject({
      status: 'error',
      output: 'the model is not installed',
    });
  });

  it('tells the model about unknown and invalid tool calls instead of failing', async () => {
    const peer = await startRunner();
    peer.send(task({ tools: ['read_file'] }));
    await peer.answer([
      { name: 'shell', arguments: { command: 'id' } },
      { name: 'read_file', arguments: {} },
    ]);
    const req = await peer.nth('llm_request', 2);
    expect(req.messages.slice(-2).map((m) => m.content)).toEqual([
      'unknown tool "shell"; available: read_file, finish',
      expect.stringMatching(/^invalid arguments for read_file: /),
    ]);
  });

  it('exits without a result when the engine goes away', async () => {
    const peer = await startRunner();
    peer.send(task());
    await peer.next('llm_request');
    peer.child.stdin.end();
    expect(await peer.exited).toBe(1);
    expect(peer.messages.filter((m) => m.type === 'result')).toEqual([]);
  });
});
