import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EngineConfig } from './config/index.ts';
import { createApiServer } from './api/server.ts';
import { localOnly, staticUi } from './api/static-ui.ts';
import type { DatabaseHandle } from './db/connection.ts';
import { createEngine, type Engine } from './engine.ts';
import { AppError, errorMessage } from './errors.ts';
import { createOrganization } from './ledger/orgs.ts';
import { acquireEngineLock } from './lock.ts';
import type { Logger } from './logger.ts';

/** Where `npm start` / electron-vite put the built renderer, from the repository's root. */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../out/renderer', import.meta.url));

/** Serve the built control panel beside the API (`start --ui`). */
export interface UiOptions {
  /** The renderer build: a folder with `index.html` and `assets/`. */
  rootDir: string;
  /**
   * Serve it on a host other than the loopback address. Off by default: the session token travels
   * in the URL over plain HTTP, so anyone who can reach the address or see the traffic can take it.
   */
  allowRemote?: boolean;
}

export interface RunningEngine {
  readonly engine: Engine;
  readonly url: string;
  /** With `ui`: the control panel's address, carrying the session token (`/?token=…`). */
  readonly uiUrl?: string;
  /** Stops the API, finishes or releases active jobs within `graceMs`, frees the data dir. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * The organization the desktop user acts as (in Electron and in the web panel): the first one in the
 * database (made with `agencia-desk-engine seed`, or here), or a new one on the Free plan at the
 * very first start.
 */
export function desktopOrgId(db: DatabaseHandle, name: string): string {
  const row = db.sqlite
    .prepare<[], { id: string }>('SELECT id FROM organizations ORDER BY created_at, id LIMIT 1')
    .get();
  return row?.id ?? createOrganization(db, { name, planId: 'free' });
}

const isLoopback = (host: string) =>
  host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));

const WILDCARD = new Set(['0.0.0.0', '::']);

const bracketed = (address: string) => (address.includes(':') ? `[${address}]` : address);

/**
 * The Host names a remote web panel answers to besides the loopback ones: the address it is bound
 * to, or every address of this machine when bound to all of them.
 */
function remoteHostNames(host: string): string[] {
  if (!WILDCARD.has(host)) return [bracketed(host)];
  return Object.values(networkInterfaces())
    .flat()
    .flatMap((a) => (a ? [bracketed(a.address.split('%')[0]!)] : []));
}

/** Refuses what `start --ui` must not do: serve an unbuilt UI, or hand its token to the network. */
function checkUi(ui: UiOptions, host: string): void {
  if (!existsSync(join(ui.rootDir, 'index.html'))) {
    throw new AppError(
      'VALIDATION_ERROR',
      `The control panel is not built (no ${join(ui.rootDir, 'index.html')}): run \`npm start\`, which builds it, or \`npx electron-vite build\``,
    );
  }
  if (!isLoopback(host) && !ui.allowRemote) {
    throw new AppError(
      'VALIDATION_ERROR',
      `--ui on ${host} refused: the panel's session token travels in its URL over plain HTTP, so anyone who can reach ${host} or see its traffic could act as this desktop. ` +
        'Keep the default 127.0.0.1 and reach it from another machine through an SSH tunnel (ssh -L 7420:127.0.0.1:7420 <this machine>), ' +
        'or pass --ui-allow-remote to accept that risk on a network you trust.',
    );
  }
}

/**
 * Starts the headless engine: takes the data-dir lock, builds the engine, serves the local API and,
 * with `opts.ui`, the control panel with a fresh session token (the whole server then also refuses
 * requests whose Host or Origin is not this engine: DNS rebinding).
 */
export async function runEngine(
  config: EngineConfig,
  log: Logger,
  onEngine?: (engine: Engine) => void,
  opts: { ui?: UiOptions } = {},
): Promise<RunningEngine> {
  if (opts.ui) checkUi(opts.ui, config.host);
  const lock = await acquireEngineLock(config.dataDir);
  let engine: Engine;
  try {
    engine = await createEngine({ config, log, exclusive: true });
  } catch (err) {
    lock.release();
    throw err;
  }
  let server: Awaited<ReturnType<typeof createApiServer>>;
  let token: string | undefined;
  // Known once listening (port 0 picks one); the Host checks only run after that.
  let port = config.port;
  try {
    onEngine?.(engine);
    server = await createApiServer(engine);
    if (opts.ui) {
      const hosts = isLoopback(config.host) ? [] : remoteHostNames(config.host);
      token = engine.sessions.issue(desktopOrgId(engine.db, 'Mi agencia'));
      const check = localOnly(() => port, hosts);
      // Webhooks come from servers (Evolution), authenticated by their own secret, not from browsers.
      server.addHook('onRequest', async (req, reply) => {
        if (!req.url.startsWith('/webhooks/')) return check(req, reply);
      });
      await server.register(staticUi, { rootDir: opts.ui.rootDir, token, port: () => port, hosts });
    }
    await server.listen({ host: config.host, port: config.port });
  } catch (err) {
    await engine.close(0);
    lock.release();
    throw new AppError('UNAVAILABLE', `Cannot listen on ${config.host}:${config.port}: ${errorMessage(err)}`);
  }
  const addr = server.server.address();
  port = typeof addr === 'object' && addr ? addr.port : config.port;
  const url = `http://${bracketed(config.host)}:${port}`;
  log.info(
    { host: config.host, port, backend: engine.queue.backend, ui: token !== undefined },
    'engine started',
  );

  let stopping: Promise<void> | undefined;
  return {
    engine,
    url,
    // A panel bound to every address is opened from this machine at the loopback one.
    ...(token === undefined
      ? {}
      : { uiUrl: `${WILDCARD.has(config.host) ? `http://127.0.0.1:${port}` : url}/?token=${token}` }),
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
