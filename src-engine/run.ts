import type { EngineConfig } from './config/index.ts';
import { createApiServer } from './api/server.ts';
import { createEngine, type Engine } from './engine.ts';
import { AppError, errorMessage } from './errors.ts';
import { acquireDataDirLock } from './lock.ts';
import type { Logger } from './logger.ts';

export interface RunningEngine {
  readonly engine: Engine;
  readonly url: string;
  /** Stops the API, finishes or releases active jobs within `graceMs`, frees the data dir. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts the headless engine: takes the data-dir lock, builds the engine, serves the local API. */
export async function runEngine(
  config: EngineConfig,
  log: Logger,
  onEngine?: (engine: Engine) => void,
): Promise<RunningEngine> {
  const lock = acquireDataDirLock(config.dataDir);
  let engine: Engine;
  try {
    engine = await createEngine({ config, log, exclusive: true });
  } catch (err) {
    lock.release();
    throw err;
  }
  let server: Awaited<ReturnType<typeof createApiServer>>;
  try {
    onEngine?.(engine);
    server = await createApiServer(engine);
    await server.listen({ host: config.host, port: config.port });
  } catch (err) {
    await engine.close(0);
    lock.release();
    throw new AppError('UNAVAILABLE', `Cannot listen on ${config.host}:${config.port}: ${errorMessage(err)}`);
  }
  const addr = server.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  log.info({ host: config.host, port, backend: engine.queue.backend }, 'engine started');

  let stopping: Promise<void> | undefined;
  return {
    engine,
    url: `http://${host}:${port}`,
    stop(graceMs = 10_000) {
      stopping ??= (async () => {
        try {
          await server.close();
          await engine.close(graceMs);
        } finally {
          lock.release();
        }
      })();
      return stopping;
    },
  };
}

/** Resolves once SIGINT/SIGTERM has stopped the engine cleanly; a second signal exits at once. */
export function stopOnSignals(running: RunningEngine, log: Logger, graceMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let once = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (once) {
        log.warn({ signal }, 'second signal: exiting now');
        process.exit(130);
      }
      once = true;
      log.info({ signal }, 'stopping: finishing or releasing active jobs');
      running.stop(graceMs).then(resolve, reject);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
