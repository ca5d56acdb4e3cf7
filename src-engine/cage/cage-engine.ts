import type Docker from 'dockerode';
import {
  CageOptionsSchema,
  CageRunRequestSchema,
  type CageOptions,
  type CageOptionsInput,
  type CageRunRequestInput,
  type CageRunResult,
} from '../contracts/cage.ts';
import type { Check } from '../contracts/health.ts';
import { AppError, errorMessage, parseOrThrow } from '../errors.ts';
import type { OllamaClient } from '../gateways/ollama/index.ts';
import type { Logger } from '../logger.ts';
import { bounded, dockerFailure } from './docker-calls.ts';
import { Limiter } from './limiter.ts';
import { reapCages, type ReapedCage } from './reaper.ts';
import { runInCage, type CageRunCall } from './session.ts';
import { within } from '../within.ts';

export interface CageEngineDeps {
  docker: Docker;
  /** The model behind every run: the cage never reaches it directly. */
  ollama: OllamaClient;
  log: Logger;
  options?: CageOptionsInput;
  clock?: () => number;
}

export interface CageEngine {
  readonly options: CageOptions;
  /**
   * Runs one task in a fresh cage and resolves with how it ended (also on timeout, cancel and
   * every limit). Rejects only when the run could not be started: bad request (VALIDATION_ERROR),
   * a run id already running (CONFLICT), Docker down, image missing or runtime absent (UNAVAILABLE).
   * Waits for a free slot first (`concurrency`); aborting the signal while waiting cancels it.
   */
  run(request: CageRunRequestInput, call?: CageRunCall): Promise<CageRunResult>;
  /** Removes containers this engine left behind (a crash); call at start-up, before any run. */
  reap(): Promise<ReapedCage[]>;
  /** Docker answers, the cage image is there (and the configured runtime); each answer within `timeoutMs`. */
  health(timeoutMs?: number): Promise<Check>;
  stats(): { running: number; queued: number };
  /** Cancels every run, waits until their containers are removed; later runs are refused. */
  close(): Promise<void>;
}

const HEALTH_TIMEOUT_MS = 3000;

/** dockerode 5 takes `{ abortSignal }` in `info` as elsewhere; its types (4.0) do not say so yet. */
type DockerInfo = (opts: { abortSignal: AbortSignal }) => Promise<{ Runtimes?: Record<string, unknown> }>;

export function createCageEngine(deps: CageEngineDeps): CageEngine {
  const options = CageOptionsSchema.parse(deps.options ?? {});
  const clock = deps.clock ?? Date.now;
  const log = deps.log.child({ module: 'cage' });
  const limiter = new Limiter(options.concurrency);
  const live = new Map<string, { stop: AbortController; done: Promise<unknown> }>();
  let closed = false;
  let runtimeChecked: Promise<void> | undefined;

  /** A configured runtime must exist: silently falling back to a weaker isolation is not an option. */
  function checkRuntime(): Promise<void> {
    const wanted = options.runtime;
    if (!wanted) return Promise.resolve();
    runtimeChecked ??= bounded(
      (abortSignal) => (deps.docker.info as DockerInfo).call(deps.docker, { abortSignal }),
      options.dockerTimeoutMs,
    ).then(
      (info) => {
        const known = Object.keys(info.Runtimes ?? {});
        if (!known.includes(wanted)) {
          throw new AppError(
            'UNAVAILABLE',
            `CAGE_RUNTIME is "${wanted}" but Docker has no such runtime (it has: ${known.join(', ') || 'none'}).`,
          );
        }
      },
      (err: unknown) => {
        throw dockerFailure(err, options.image);
      },
    );
    // A failed check is retried on the next run (Docker may come back, the runtime be installed).
    runtimeChecked.catch(() => (runtimeChecked = undefined));
    return runtimeChecked;
  }

  /** `work`, or nothing as soon as `signal` aborts (`work` keeps running). */
  async function untilAborted(signal: AbortSignal, work: Promise<void>): Promise<void> {
    let onAbort = (): void => {};
    const aborted = new Promise<void>((resolve) => (onAbort = resolve));
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    try {
      await Promise.race([work, aborted]);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  async function run(request: CageRunRequestInput, call: CageRunCall = {}): Promise<CageRunResult> {
    if (closed) throw new AppError('UNAVAILABLE', 'the cage engine is shutting down');
    const req = parseOrThrow(CageRunRequestSchema, request, 'cage run');
    if (live.has(req.runId)) throw new AppError('CONFLICT', `run ${req.runId} is already running`);
    const stop = new AbortController();
    const signal = call.signal ? AbortSignal.any([call.signal, stop.signal]) : stop.signal;
    const runDeps = {
      docker: deps.docker,
      options,
      ollama: deps.ollama,
      log,
      clock,
      runtime: options.runtime,
    };
    const runCall = { signal, onLog: call.onLog };
    const task = (async () => {
      let release: () => void;
      try {
        release = await limiter.acquire(signal);
      } catch {
        // Cancelled while queued: the run ends as cancelled without ever getting a container.
        return runInCage(req, runDeps, runCall);
      }
      try {
        // A run cancelled (or the engine closing) while Docker is asked about its runtime goes on at
        // once, to end as cancelled; the check itself goes on for the other runs.
        await untilAborted(signal, checkRuntime());
        return await runInCage(req, runDeps, runCall);
      } finally {
        release();
      }
    })();
    live.set(req.runId, { stop, done: task.catch(() => {}) });
    try {
      const result = await task;
      log.info(
        { runId: req.runId, status: result.status, failure: result.failure, ms: result.durationMs },
        'cage run ended',
      );
      return result;
    } finally {
      live.delete(req.runId);
    }
  }

  async function health(timeoutMs = HEALTH_TIMEOUT_MS): Promise<Check> {
    let runtimes: string[];
    try {
      await within(deps.docker.ping(), timeoutMs);
      const info = (await within(deps.docker.info(), timeoutMs)) as { Runtimes?: Record<string, unknown> };
      runtimes = Object.keys(info.Runtimes ?? {});
    } catch (err) {
      const error = errorMessage(err);
      return {
        status: 'unhealthy',
        reason: `Docker is not reachable: ${error}`,
        detail: { code: 'docker_unreachable', error },
      };
    }
    try {
      await within(deps.docker.getImage(options.image).inspect(), timeoutMs);
    } catch {
      return {
        status: 'unhealthy',
        reason: `cage image ${options.image} missing: run agencia-desk-engine cage build`,
        detail: { code: 'cage_image_missing', image: options.image },
      };
    }
    if (options.runtime && !runtimes.includes(options.runtime)) {
      return {
        status: 'unhealthy',
        reason: `CAGE_RUNTIME is "${options.runtime}" but Docker has no such runtime (it has: ${runtimes.join(', ') || 'none'})`,
        detail: { code: 'cage_runtime_missing', runtime: options.runtime, available: runtimes },
      };
    }
    return {
      status: 'healthy',
      reason: `cage image ${options.image} present${options.runtime ? `, runtime ${options.runtime}` : ''}`,
      detail: {
        code: 'cage_ready',
        image: options.image,
        ...(options.runtime ? { runtime: options.runtime } : {}),
      },
    };
  }

  return {
    options,
    run,
    reap: () => reapCages(deps.docker, options.engineId, new Set(live.keys())),
    health,
    stats: () => ({ running: limiter.running, queued: limiter.queued }),
    async close() {
      closed = true;
      for (const r of live.values()) r.stop.abort(new Error('the engine is shutting down'));
      await Promise.all([...live.values()].map((r) => r.done));
    },
  };
}
