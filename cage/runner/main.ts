/**
 * The cage runner: the process the cage image starts. It speaks the NDJSON protocol of
 * cage/PROTOCOL.md on stdio, runs one task and exits. It holds no secret and trusts nothing it
 * reads; the engine, for its part, trusts nothing the runner says.
 */
import { CAGE_PROTOCOL_VERSION, RESULT_OUTPUT_MAX_CHARS } from '../../src-engine/contracts/cage.ts';
import { runAgent } from './agent.ts';
import { CancelledError, Channel } from './channel.ts';
import { Workspace } from './files.ts';

async function main(): Promise<number> {
  const root = process.env.AGENCIA_WORKSPACE ?? '/workspace';
  const channel = new Channel((line) => process.stdout.write(line));
  // The engine went away: nothing left to report to.
  process.stdout.on('error', () => process.exit(1));
  process.stdin.on('data', (chunk: Buffer) => channel.push(chunk));
  process.stdin.on('end', () => channel.end());
  channel.log(
    'info',
    `runner ready: protocol ${CAGE_PROTOCOL_VERSION}, node ${process.version}, uid ${process.getuid?.()}`,
  );

  const stopped = new Promise<never>((_, reject) => {
    channel.stop.signal.addEventListener('abort', () => reject(channel.stop.signal.reason), { once: true });
  });
  stopped.catch(() => {}); // raced below

  let task;
  try {
    task = await Promise.race([channel.task, stopped]);
  } catch (err) {
    if (!(err instanceof CancelledError)) return 1;
    channel.send({ type: 'result', status: 'error', output: `cancelled: ${err.message}`, stepsUsed: 0 });
    return 0;
  }
  try {
    const outcome = await runAgent(task, { channel, workspace: new Workspace(root), cwd: root });
    const output =
      outcome.output.length > RESULT_OUTPUT_MAX_CHARS
        ? `${outcome.output.slice(0, RESULT_OUTPUT_MAX_CHARS - 1)}…`
        : outcome.output;
    channel.send({ type: 'result', ...outcome, output });
    return 0;
  } catch (err) {
    if (channel.stop.signal.aborted) return 1;
    channel.send({ type: 'result', status: 'error', output: `runner failed: ${String(err)}`, stepsUsed: 0 });
    return 1;
  }
}

/** Resolves once everything written to stdout so far has left the process (a full pipe queues). */
function flushed(): Promise<void> {
  return new Promise((resolve) => process.stdout.write('', () => resolve()));
}

// Exit as soon as the last line is out: a tool's stray process must not keep the container alive.
main().then(
  async (code) => {
    await flushed();
    process.exit(code);
  },
  () => process.exit(1),
);
