import { parseArgs } from 'node:util';
import { createDockerClient } from './cage/docker-client.ts';
import type { EngineConfig } from './config/index.ts';
import type { AgentRun, RunAgentInput } from './contracts/agents.ts';
import type { AgentLogEvent, AgentStatusEvent } from './contracts/cage.ts';
import { createEngine } from './engine.ts';
import { AppError, errorMessage } from './errors.ts';
import { acquireEngineLock, lockHolder, type DataDirLock } from './lock.ts';
import { createLogger } from './logger.ts';

/*
 * The cage's commands: build its image, and run one agent from the command line through the same
 * guard as the API (validation, plan, credit, hold), with its log printed as it streams.
 */

export const AGENTS_USAGE = `  cage build [--base IMAGE]                Build the agent cage image (CAGE_IMAGE) on a Node 22 base image
  agents run --org ID --prompt TEXT [--model M] [--max-steps N] [--timeout S] [--json]
                                           Run one agent in a cage (charged like the API); print its log
                                           and result (--json: the run as JSON on stdout, the log on stderr)`;

type Print = (line: string) => void;
const printErr: Print = (line) => process.stderr.write(`${line}\n`);

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value.trim() === '') {
    throw new AppError('VALIDATION_ERROR', `${flag} is required`);
  }
  return value;
}

/** A whole number flag, passed on as given otherwise: the guard's schema names what is wrong. */
const numberFlag = (value: string | undefined) =>
  value === undefined ? undefined : /^\d+$/.test(value) ? Number(value) : value;

async function cage(args: string[], config: EngineConfig, print: Print): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'build') throw new AppError('VALIDATION_ERROR', `cage: expected build, not "${sub ?? ''}"`);
  const { values } = parseArgs({ args: rest, options: { base: { type: 'string' } }, strict: true });
  // Loaded here only: the builder bundles the runner with esbuild, which nothing else needs.
  const { buildCageImage, DEFAULT_BASE_IMAGE } = await import('../cage/build.ts');
  const base = values.base ?? DEFAULT_BASE_IMAGE;
  const tag = config.cage.image;
  print(
    `Building the cage image ${tag} on ${base} (Docker: ${config.services.dockerHost ?? 'default socket'})`,
  );
  try {
    await buildCageImage({
      docker: createDockerClient(config.services.dockerHost),
      base,
      tag,
      onProgress: print,
    });
  } catch (err) {
    throw new AppError('UNAVAILABLE', `cage build failed: ${errorMessage(err)}`);
  }
  print(`Built ${tag}`);
  return 0;
}

/** This process becomes the engine for the run: only the data-dir lock holder runs cages. */
async function lockForRun(dataDir: string): Promise<DataDirLock> {
  try {
    return await acquireEngineLock(dataDir);
  } catch (err) {
    const pid = lockHolder(dataDir)?.pid;
    if (!(err instanceof AppError) || pid === undefined) throw err;
    throw new AppError(
      'CONFLICT',
      `The engine is running on ${dataDir} (pid ${pid}) and only it runs cages: stop it first, ` +
        `or send the run to it with the org's API key (POST /api/v1/agents/run).`,
    );
  }
}

const FINAL = new Set(['success', 'error', 'timeout', 'cancelled']);

function describeRun(run: AgentRun): string[] {
  const lines = [`Run ${run.id}: ${run.status}`];
  if (run.output !== null) lines.push(run.output);
  if (run.error !== null) lines.push(`error: ${run.error}`);
  lines.push(
    `steps ${run.stepsUsed ?? 0}/${run.maxSteps}, tokens in ${run.tokensIn ?? 0} out ${run.tokensOut ?? 0}`,
  );
  return lines;
}

async function agents(args: string[], config: EngineConfig, print: Print): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'run') throw new AppError('VALIDATION_ERROR', `agents: expected run, not "${sub ?? ''}"`);
  const { values } = parseArgs({
    args: rest,
    options: {
      org: { type: 'string' },
      prompt: { type: 'string' },
      model: { type: 'string' },
      'max-steps': { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const orgId = required(values.org, '--org');
  const input = {
    prompt: required(values.prompt, '--prompt'),
    model: values.model,
    maxSteps: numberFlag(values['max-steps']),
    timeoutS: numberFlag(values.timeout),
  } as RunAgentInput;
  const logTo = values.json ? printErr : print;

  const lock = await lockForRun(config.dataDir);
  let engine: Awaited<ReturnType<typeof createEngine>> | undefined;
  let off = () => {};
  let onSignal: (() => void) | undefined;
  try {
    engine = await createEngine({
      config,
      log: createLogger('engine', { level: 'warn' }),
      exclusive: true,
    });
    const e = engine;
    e.quotas.orgPlan(orgId); // NOT_FOUND for an unknown org, before anything is issued
    // The operator acts as the org, like the desktop UI: a session that dies with this process.
    const session = e.sessions.issue(orgId);
    // Events may come before the run id does: the worker can take the job as it is queued.
    const early: (AgentLogEvent | AgentStatusEvent)[] = [];
    const ours: { runId?: string } = {};
    let done: (() => void) | undefined;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const show = (ev: AgentLogEvent | AgentStatusEvent) => {
      if (ev.type === 'agent.log') logTo(`${ev.stream.padEnd(6)} ${ev.text}`);
      else if (FINAL.has(ev.status)) done?.();
    };
    off = e.events.on((ev) => {
      if (ev.type !== 'agent.log' && ev.type !== 'agent.status') return;
      if (ours.runId === undefined) early.push(ev);
      else if (ev.runId === ours.runId) show(ev);
    });
    const accepted = await e.call('agents:run', input, session);
    const id = accepted.runId;
    ours.runId = id;
    logTo(`Run ${id} queued for org ${orgId} (Ctrl-C cancels it)`);
    for (const ev of early) if (ev.runId === id) show(ev);
    onSignal = () => {
      logTo('Cancelling the run…');
      e.call('agents:cancel', { id }, session).catch((err: unknown) => logTo(errorMessage(err)));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    // The run may have ended while the id was on its way back.
    const now = await e.call('agents:get', { id }, session);
    if (!FINAL.has(now.status)) await finished;
    const run = await e.call('agents:get', { id }, session);
    if (values.json) print(JSON.stringify(run));
    else describeRun(run).forEach((line) => print(line));
    return run.status === 'success' ? 0 : 1;
  } finally {
    off();
    if (onSignal) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    await engine?.close();
    lock.release();
  }
}

const COMMANDS: Record<string, (args: string[], config: EngineConfig, print: Print) => Promise<number>> = {
  cage,
  agents,
};

/** The cage commands, by name; undefined when `command` is not one of them. */
export function agentsCommand(command: string) {
  return Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
}
