import { PassThrough, type Duplex } from 'node:stream';
import type Docker from 'dockerode';
import {
  MAX_LINE_BYTES,
  RunnerMessageSchema,
  type CageFailure,
  type CageOptions,
  type CageRunRequest,
  type CageRunResult,
  type CageRunStatus,
  type EngineMessage,
  type RunnerMessageParsed,
} from '../contracts/cage.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { OllamaClient } from '../gateways/ollama/index.ts';
import { BrokerError, RunBroker } from './broker.ts';
import { cageContainerSpec } from './container-spec.ts';
import { bounded, DockerNoAnswer, dockerFailure, isGone, waitRegistered } from './docker-calls.ts';
import { LogSink, type CageLogHandler } from './log-sink.ts';
import { BoundedLineSplitter, encodeLine, parseJsonLine, preview } from './ndjson.ts';

export interface CageRunDeps {
  docker: Docker;
  options: CageOptions;
  ollama: OllamaClient;
  log: Logger;
  clock: () => number;
  /** The OCI runtime to use, already checked to exist. */
  runtime: string | undefined;
}

export interface CageRunCall {
  /** Aborting cancels the run: the runner gets a `cancel`, then `cancelGraceMs`, then a kill. */
  signal?: AbortSignal;
  onLog?: CageLogHandler;
}

// After a result: time for the runner to exit by itself before it is killed.
const EXIT_GRACE_MS = 1000;
// After the container exits: time for its last bytes (often the result) to come through attach.
const STREAM_DRAIN_MS = 2000;
// After a kill: time for Docker to report the exit; the container is force-removed regardless.
const KILL_WAIT_MS = 10_000;
const STDERR_LINE_MAX = 16_384;
const STDERR_TAIL_LINES = 5;
// Garbage lines noted one by one before the engine only counts them.
const GARBAGE_NOTES = 20;

interface Ending {
  status: CageRunStatus;
  failure: CageFailure | null;
  output: string;
  /** `exit`: the runner is expected to exit by itself shortly; `kill`: stop it now. */
  then: 'exit' | 'kill';
}

interface Stopped {
  ending: Ending;
  exitCode: number | null;
  oomKilled: boolean;
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

/**
 * One agent run in one fresh container: create -> attach -> wait (registered) -> start ->
 * stream -> result -> stop -> remove. The runner is untrusted: its lines are parsed and bounded,
 * and the limits (steps, tool calls, tokens, output, time) are counted and enforced here. Each
 * Docker call is bounded (`dockerTimeoutMs`), and attach, wait and start also end with the run
 * (cancel, timeout): a Docker that never answers cannot hold a run, its hold, or the engine's close.
 */
export async function runInCage(
  req: CageRunRequest,
  deps: CageRunDeps,
  call: CageRunCall,
): Promise<CageRunResult> {
  return new CageRun(req, deps, call).execute();
}

class CageRun {
  private readonly sink: LogSink;
  private readonly broker: RunBroker;
  private readonly log: Logger;
  private readonly started: number;
  private ending: Ending | undefined;
  private decide: (e: Ending) => void = () => {};
  private readonly decided = new Promise<Ending>((resolve) => (this.decide = resolve));
  private stdio: Duplex | undefined;
  private steps = 0;
  private toolCallsAllowed = 0;
  private toolCalls = 0;
  private outputBytes = 0;
  private garbage = 0;
  private requestInFlight = false;
  private cancelRequested = false;
  /** The runner has its task: a cancel goes to it first. Before, there is nothing to wait for. */
  private taskSent = false;
  private exited: Promise<number> | undefined;
  private exitCode: number | null = null;
  /** A Docker call got no answer: the later ones are skipped (the next start's reap cleans up). */
  private dockerHung: DockerNoAnswer | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private startAt = 0;
  private firstLineAt: number | undefined;
  private readonly stderrTail: string[] = [];
  /** Aborted when the run's ending is decided: stops a model call or a Docker call in flight. */
  private readonly halt = new AbortController();
  private readonly stdoutLines: BoundedLineSplitter;
  private readonly stderrLines: BoundedLineSplitter;

  constructor(
    private readonly req: CageRunRequest,
    private readonly deps: CageRunDeps,
    private readonly call: CageRunCall,
  ) {
    this.log = deps.log.child({ runId: req.runId });
    this.started = deps.clock();
    this.sink = new LogSink(
      req.runId,
      call.onLog,
      deps.options.maxLogRecords,
      deps.clock,
      { pause: () => this.stdio?.pause(), resume: () => this.stdio?.resume() },
      this.log,
    );
    const budgets = [deps.options.tokenBudget, req.tokenBudget].filter((b): b is number => b !== undefined);
    this.broker = new RunBroker(
      deps.ollama,
      req.model,
      budgets.length ? Math.min(...budgets) : undefined,
      (line) => this.sink.emit('llm', line),
    );
    this.stdoutLines = new BoundedLineSplitter(
      MAX_LINE_BYTES,
      (line) => this.onLine(line),
      (bytes) => this.note(`dropped a runner line of ${bytes} bytes (limit ${MAX_LINE_BYTES})`),
    );
    this.stderrLines = new BoundedLineSplitter(
      STDERR_LINE_MAX,
      (line) => this.onStderrLine(line),
      (bytes) => this.note(`dropped a stderr line of ${bytes} bytes (limit ${STDERR_LINE_MAX})`),
    );
  }

  async execute(): Promise<CageRunResult> {
    if (this.call.signal?.aborted) {
      return this.result(
        { status: 'cancelled', failure: 'cancelled', output: 'cancelled before start', then: 'kill' },
        null,
        false,
      );
    }
    // The run's clock and its cancel cover its Docker calls too, from the container's creation.
    const timeoutS = Math.min(this.deps.options.timeoutS, this.req.timeoutS ?? Infinity);
    const timer = setTimeout(
      () =>
        this.end({
          status: 'timeout',
          failure: 'timeout',
          output: `the run took longer than ${timeoutS} s`,
          then: 'kill',
        }),
      timeoutS * 1000,
    );
    const onAbort = (): void => this.cancel();
    this.call.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const container = await this.create();
      if (!container) return await this.result(await this.decided, null, false);
      let stopped: Stopped;
      try {
        stopped = await this.supervise(container);
      } finally {
        await this.remove(container);
      }
      return await this.result(stopped.ending, stopped.exitCode, stopped.oomKilled);
    } finally {
      clearTimeout(timer);
      clearTimeout(this.graceTimer);
      this.call.signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * The run's container, or undefined when Docker gave no answer after the run had ended (cancel,
   * timeout). Not given up on the run's end, only at the deadline: a container Docker makes
   * all the same must be known, to be removed.
   */
  private async create(): Promise<Docker.Container | undefined> {
    const { docker, options } = this.deps;
    let container: Docker.Container;
    try {
      container = await this.docker((abortSignal) =>
        docker.createContainer({
          ...cageContainerSpec(options, { runId: this.req.runId, runtime: this.deps.runtime }),
          abortSignal,
        }),
      );
    } catch (err) {
      if (this.ending) return undefined;
      throw dockerFailure(err, options.image);
    }
    this.sink.milestone(`container ${container.id.slice(0, 12)} created from ${options.image}`);
    return container;
  }

  private async supervise(container: Docker.Container): Promise<Stopped> {
    try {
      await this.begin(container);
    } catch (err) {
      // Ended (cancel, timeout) while Docker attached or started it: stopped below like any run.
      if (!this.ending) {
        this.stdio?.destroy();
        throw dockerFailure(err, this.deps.options.image);
      }
    }
    const ending = await this.decided;
    const exited = this.exited?.catch(() => {});
    if (this.exitCode === null && ending.then === 'exit' && exited)
      await Promise.race([exited, delay(EXIT_GRACE_MS)]);
    if (this.exitCode === null) {
      this.sink.milestone(`stopping the container (${ending.failure ?? 'done'})`);
      await this.docker((abortSignal) => container.kill({ signal: 'SIGKILL', abortSignal })).catch(
        (err: unknown) => {
          if (!isGone(err)) this.log.warn({ err }, 'cage kill failed');
        },
      );
      if (exited && !this.dockerHung) await Promise.race([exited, delay(KILL_WAIT_MS)]);
    }
    this.stdio?.destroy();
    const state = await this.docker((abortSignal) => container.inspect({ abortSignal })).then(
      (info) => info.State,
      () => undefined,
    );
    return {
      ending,
      exitCode: state ? state.ExitCode : this.exitCode,
      oomKilled: state?.OOMKilled === true,
    };
  }

  /** Attach, wait registered, start, task: each Docker call given up when the run ends meanwhile. */
  private async begin(container: Docker.Container): Promise<void> {
    const { docker, clock } = this.deps;
    const stdio = (await this.docker(
      (abortSignal) =>
        container.attach({
          stream: true,
          stdin: true,
          stdout: true,
          stderr: true,
          hijack: true,
          abortSignal,
        }),
      this.halt.signal,
    )) as Duplex;
    this.stdio = stdio;
    const exited = (
      await this.docker((abortSignal) => waitRegistered(docker, container.id, abortSignal), this.halt.signal)
    ).exit;
    this.exited = exited;
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    docker.modem.demuxStream(stdio, stdout, stderr);
    stdout.on('data', (b: Buffer) => this.onStdout(b));
    stderr.on('data', (b: Buffer) => this.onStderr(b));
    const streamEnded = new Promise<void>((resolve) => {
      stdio.once('end', resolve);
      stdio.once('close', resolve);
    });
    // A broken attach connection shows up as the container's exit or the timeout.
    stdio.on('error', (err) => this.log.debug({ err }, 'cage attach stream error'));

    exited.then(
      async (code) => {
        this.exitCode = code;
        await this.drain(streamEnded);
        this.stdoutLines.end();
        this.stderrLines.end();
        const tail = this.stderrTail.length ? `: ${this.stderrTail.join(' | ')}` : '';
        this.end({
          status: 'error',
          failure: 'exited',
          output: `the runner exited with code ${code} without a result${tail}`,
          then: 'exit',
        });
      },
      (err: unknown) =>
        this.end({
          status: 'error',
          failure: 'exited',
          output: `lost the container: ${errorMessage(err)}`,
          then: 'kill',
        }),
    );

    this.startAt = clock();
    await this.docker((abortSignal) => container.start({ abortSignal }), this.halt.signal);
    this.send({
      type: 'task',
      taskId: this.req.runId,
      prompt: this.req.prompt,
      model: this.req.model,
      maxSteps: this.req.maxSteps,
      tools: this.req.tools,
      toolTimeoutS: this.req.toolTimeoutS,
    });
    this.taskSent = true;
  }

  /**
   * One Docker call of the run, bounded by `dockerTimeoutMs` and by `signal`. Once one got no
   * answer, Docker is taken as hung and the later ones are skipped: the run ends without waiting
   * on them again, and its container goes with the reap at the engine's next start.
   */
  private async docker<T>(call: (abortSignal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.dockerHung) throw this.dockerHung;
    try {
      return await bounded(call, this.deps.options.dockerTimeoutMs, signal);
    } catch (err) {
      if (err instanceof DockerNoAnswer) this.dockerHung = err;
      throw err;
    }
  }

  private cancel(): void {
    if (this.ending || this.cancelRequested) return;
    this.cancelRequested = true;
    this.sink.milestone('cancel requested');
    const cancelled: Ending = {
      status: 'cancelled',
      failure: 'cancelled',
      output: 'cancelled',
      then: 'kill',
    };
    // No runner to ask yet: the Docker call under way is given up at once.
    if (!this.taskSent) return this.end(cancelled);
    this.send({ type: 'cancel', reason: 'cancelled by the user' });
    this.graceTimer = setTimeout(() => this.end(cancelled), this.deps.options.cancelGraceMs);
  }

  /**
   * After the exit, the last bytes (often the result) may still be on their way, or held back by
   * a slow log consumer: wait for the end of the stream while output still moves.
   */
  private async drain(streamEnded: Promise<void>): Promise<void> {
    for (;;) {
      const before = this.outputBytes;
      const ended = await Promise.race([
        streamEnded.then(() => true),
        delay(STREAM_DRAIN_MS).then(() => false),
      ]);
      if (ended || (this.outputBytes === before && !this.sink.busy)) return;
    }
  }

  /** The first ending wins; later ones (a kill's exit, a late result) change nothing. */
  private end(ending: Ending): void {
    if (this.ending) return;
    this.ending = ending;
    this.decide(ending);
    this.halt.abort(new Error('the run ended'));
  }

  /** The engine stops the run: a limit was hit or the runner misbehaved. */
  private stop(failure: CageFailure, message: string): void {
    if (this.ending) return;
    this.sink.milestone(`stopping the run: ${message}`);
    this.end({ status: 'error', failure, output: message, then: 'kill' });
  }

  private send(message: EngineMessage): void {
    const stdio = this.stdio;
    if (!stdio || stdio.destroyed || !stdio.writable) return;
    stdio.write(encodeLine(message, MAX_LINE_BYTES));
  }

  private note(text: string): void {
    this.sink.emit('engine', text);
  }

  private countOutput(bytes: number): boolean {
    this.outputBytes += bytes;
    if (this.outputBytes <= this.deps.options.maxOutputBytes) return true;
    this.stop('output_limit', `the runner wrote more than ${this.deps.options.maxOutputBytes} bytes`);
    return false;
  }

  private onStdout(chunk: Buffer): void {
    this.firstLineAt ??= this.deps.clock();
    if (this.ending || !this.countOutput(chunk.length)) return;
    this.stdoutLines.push(chunk);
  }

  private onStderr(chunk: Buffer): void {
    this.firstLineAt ??= this.deps.clock();
    if (this.ending || !this.countOutput(chunk.length)) return;
    this.stderrLines.push(chunk);
  }

  private onStderrLine(line: string): void {
    this.stderrTail.push(preview(line, 300));
    if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
    this.sink.emit('stderr', line);
  }

  private onLine(line: string): void {
    if (this.ending) return;
    const parsed = RunnerMessageSchema.safeParse(parseJsonLine(line));
    if (!parsed.success) {
      this.garbage += 1;
      if (this.garbage <= GARBAGE_NOTES)
        this.note(`ignored a line that is not a protocol message: ${preview(line)}`);
      if (this.garbage === GARBAGE_NOTES) this.note('further ignored lines are only counted');
      return;
    }
    this.onMessage(parsed.data);
  }

  private onMessage(msg: RunnerMessageParsed): void {
    switch (msg.type) {
      case 'log':
        return this.sink.emit('runner', msg.level === 'info' ? msg.text : `[${msg.level}] ${msg.text}`);
      case 'llm_request':
        return this.onLlmRequest(msg);
      case 'tool_start':
        this.toolCalls += 1;
        if (this.toolCalls > this.toolCallsAllowed) {
          return this.stop(
            'step_limit',
            `the runner started tool call ${this.toolCalls}, but the model asked for ${this.toolCallsAllowed}`,
          );
        }
        return this.sink.emit('tool', `▶ ${msg.tool} ${preview(JSON.stringify(msg.args), 2000)}`);
      case 'tool_end':
        return this.sink.emit(
          'tool',
          `${msg.ok ? '✓' : '✗'} ${msg.tool} (${Math.round(msg.durationMs)} ms)\n${msg.output}`,
        );
      case 'result': {
        const status = this.cancelRequested ? 'cancelled' : msg.status;
        const failure = this.cancelRequested
          ? 'cancelled'
          : msg.status === 'success'
            ? null
            : msg.status === 'timeout'
              ? 'timeout'
              : 'runner_error';
        this.sink.milestone(
          `result: ${msg.status} (runner says ${msg.stepsUsed} steps; engine counted ${this.steps})`,
        );
        return this.end({ status, failure, output: msg.output, then: 'exit' });
      }
    }
  }

  private onLlmRequest(msg: Extract<RunnerMessageParsed, { type: 'llm_request' }>): void {
    if (this.requestInFlight)
      return this.stop('protocol', 'the runner sent an llm_request before the previous one was answered');
    if (this.steps >= this.req.maxSteps) {
      return this.stop(
        'step_limit',
        `the runner asked for a model step beyond maxSteps (${this.req.maxSteps})`,
      );
    }
    this.steps += 1;
    this.sink.emit('llm', `→ step ${this.steps}: ${this.req.model} (${msg.messages.length} messages)`);
    this.requestInFlight = true;
    this.broker.complete(msg, this.halt.signal).then(
      (turn) => {
        this.requestInFlight = false;
        if (this.ending) return;
        const calls = turn.message.tool_calls ?? [];
        this.toolCallsAllowed += calls.length;
        const called = calls.length ? `; calls ${calls.map((c) => c.function.name).join(', ')}` : '';
        this.sink.emit(
          'llm',
          `← ${turn.usage.promptTokens} prompt + ${turn.usage.completionTokens} answer tokens${called}`,
        );
        try {
          this.send({
            type: 'llm_response',
            requestId: msg.requestId,
            message: turn.message,
            usage: turn.usage,
          });
        } catch (err) {
          this.stop('llm_error', `the model's answer does not fit the protocol: ${errorMessage(err)}`);
        }
      },
      (err: unknown) => {
        this.requestInFlight = false;
        if (this.ending) return;
        const failure = err instanceof BrokerError ? err.failure : 'llm_error';
        const message = errorMessage(err);
        this.send({ type: 'llm_response', requestId: msg.requestId, error: message });
        this.stop(failure, message);
      },
    );
  }

  private async remove(container: Docker.Container): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.docker((abortSignal) => container.remove({ force: true, v: true, abortSignal }));
        this.sink.milestone('container removed');
        return;
      } catch (err) {
        if (isGone(err)) return;
        // 409: a removal already in progress (the daemon is still tearing the container down).
        if (attempt >= 5 || this.dockerHung) {
          this.log.error(
            { err, containerId: container.id },
            'could not remove a cage container; the reaper will',
          );
          this.sink.milestone(
            `could not remove the container (${errorMessage(err)}); the engine's next start removes it`,
          );
          return;
        }
        await delay(200 * attempt);
      }
    }
  }

  private async result(ending: Ending, exitCode: number | null, oomKilled: boolean): Promise<CageRunResult> {
    let { status, failure, output } = ending;
    // The memory limit was hit: whatever the runner said, part of its work was killed.
    if (oomKilled && (status === 'success' || failure === 'runner_error' || failure === 'exited')) {
      status = 'error';
      failure = 'out_of_memory';
      output = `the cage ran out of memory (limit ${this.deps.options.memoryMb} MB)${output ? `; ${output}` : ''}`;
    }
    this.sink.milestone(`run ended: ${status}${failure ? ` (${failure})` : ''}`);
    await this.sink.drained();
    return {
      runId: this.req.runId,
      status,
      failure,
      output,
      stepsUsed: this.steps,
      toolCalls: this.toolCalls,
      tokensIn: this.broker.tokensIn,
      tokensOut: this.broker.tokensOut,
      exitCode,
      durationMs: this.deps.clock() - this.started,
      firstLineMs: this.firstLineAt === undefined ? null : this.firstLineAt - this.startAt,
      logRecords: this.sink.records,
      droppedLogRecords: this.sink.dropped,
    };
  }
}
