import { randomUUID } from 'node:crypto';
import type Docker from 'dockerode';
import type {
  CageLogRecord,
  CageOptionsInput,
  CageRunRequestInput,
  CageRunResult,
} from '../../src-engine/contracts/cage.ts';
import {
  createCageEngine,
  LABEL_RUN,
  type CageEngine,
  type CageRunCall,
} from '../../src-engine/cage/index.ts';
import { createOllamaClient } from '../../src-engine/gateways/ollama/index.ts';
import { createLogger } from '../../src-engine/logger.ts';
import type { OllamaSim } from '../sim/ollama/index.ts';

/** The model every cage test scripts (installed in the simulator by default). */
export const MODEL = 'llama3.2';

export const quietLog = createLogger('engine', { level: 'silent' });

export function runId(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export function cageEngine(docker: Docker, ollamaUrl: string, options: CageOptionsInput): CageEngine {
  return createCageEngine({
    docker,
    ollama: createOllamaClient({ baseUrl: ollamaUrl, timeoutMs: 5000 }),
    log: quietLog,
    options: { memoryMb: 256, timeoutS: 60, cancelGraceMs: 500, ...options },
  });
}

export interface Logged {
  result: CageRunResult;
  records: CageLogRecord[];
  /** Every record's text, one per line: what a terminal view would show. */
  text: string;
}

/** Runs one task and keeps its log. */
export async function runLogged(
  engine: CageEngine,
  request: Partial<CageRunRequestInput> & { prompt: string },
  call: CageRunCall = {},
): Promise<Logged> {
  const records: CageLogRecord[] = [];
  const result = await engine.run(
    { runId: runId('t'), model: MODEL, maxSteps: 5, ...request },
    {
      ...call,
      onLog: (r) => {
        records.push(r);
        return call.onLog?.(r);
      },
    },
  );
  return { result, records, text: records.map((r) => r.text).join('\n') };
}

/** The outputs of the tool calls of a run, in order (the `tool_end` records). */
export function toolOutputs(logged: Logged): string[] {
  return logged.records.filter((r) => r.stream === 'tool' && /^[✓✗]/.test(r.text)).map((r) => r.text);
}

/** Scripts one shell call then `finish`, runs it with the real runner, returns the call's output. */
export async function shellOnce(
  engine: CageEngine,
  sim: OllamaSim,
  command: string,
  request: Partial<CageRunRequestInput> = {},
): Promise<Logged & { output: string }> {
  sim.script(
    MODEL,
    { type: 'tool_call', name: 'shell', arguments: { command } },
    { type: 'tool_call', name: 'finish', arguments: { output: 'finished' } },
  );
  const logged = await runLogged(engine, { prompt: 'escape', tools: ['shell'], ...request });
  return { ...logged, output: toolOutputs(logged)[0] ?? '' };
}

/** Containers (any state) that carry this run's label: none once a run has ended. */
export async function containersOf(docker: Docker, id: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${LABEL_RUN}=${id}`] } });
}

/** Polls until `check` holds, or fails after `ms`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  ms = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
