import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ENGINE_QUEUES } from './contracts/queue.ts';
import { decimal } from './contracts/common.ts';
import { ADMIN_USAGE, adminCommand } from './cli-admin.ts';
import { AGENTS_USAGE, agentsCommand } from './cli-agents.ts';
import { ConfigError, describeConfig, loadConfig, type EngineConfig } from './config/index.ts';
import { openDatabase, runMigrations } from './db/connection.ts';
import { createEngine } from './engine.ts';
import { AppError, errorMessage } from './errors.ts';
import { lockHolder } from './lock.ts';
import { createLogger } from './logger.ts';
import { DEFAULT_UI_DIR, runEngine, stopOnSignals } from './run.ts';
import type { JobQueue } from './queue/port.ts';

const USAGE = `Usage: agencia-desk-engine <command> [options]

Commands:
  start [--host 127.0.0.1] [--port 7420]   Run the engine headless; stops cleanly on Ctrl-C/SIGTERM
        [--ui [--ui-dir out/renderer] [--ui-allow-remote]]
                                           ...and serve the control panel; prints its URL with a session token
  migrate                                  Apply pending database migrations
  status                                   Print the engine's state as JSON
${ADMIN_USAGE}
${AGENTS_USAGE}
  help                                     Show this help

Configuration comes from environment variables (see README), e.g. AGENCIA_DATA_DIR, REDIS_URL.`;

class UsageError extends Error {}

const out = (s: string) => process.stdout.write(`${s}\n`);

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

async function start(args: string[], config: EngineConfig): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      ui: { type: 'boolean' },
      'ui-dir': { type: 'string' },
      'ui-allow-remote': { type: 'boolean' },
    },
    strict: true,
  });
  if (!values.ui && (values['ui-dir'] !== undefined || values['ui-allow-remote']))
    throw new UsageError('--ui-dir and --ui-allow-remote go with --ui');
  if (values.host !== undefined) config.host = values.host;
  if (values.port !== undefined) {
    const port = decimal(values.port) ?? NaN; // Number('') is 0: "any free port"
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new UsageError(`--port: not a port number: ${values.port}`);
    config.port = port;
  }
  const log = createLogger('engine', { level: config.logLevel });
  const ui = values.ui
    ? { rootDir: values['ui-dir'] ?? DEFAULT_UI_DIR, allowRemote: values['ui-allow-remote'] ?? false }
    : undefined;
  const running = await runEngine(config, log, undefined, { ui });
  out(
    `Agencia Desk engine listening on ${running.url} (queue: ${running.engine.queue.backend}, data: ${config.dataDir})`,
  );
  if (running.uiUrl) out(`Control panel: ${running.uiUrl}`);
  await stopOnSignals(running, log);
  out('Agencia Desk engine stopped');
  return 0;
}

function migrate(config: EngineConfig): number {
  const handle = openDatabase(config.dbFile, { migrate: false });
  try {
    const r = runMigrations(handle);
    out(JSON.stringify({ dbFile: config.dbFile, applied: r.applied, total: r.total }));
  } finally {
    handle.close();
  }
  return 0;
}

/**
 * Job counts per queue and open dead letters; while the queue cannot answer (Redis away), null for
 * both and why, beside the health checks that say the same.
 */
async function queueStatus(queue: JobQueue) {
  try {
    const [counts, open] = await Promise.all([
      Promise.all(ENGINE_QUEUES.map(async (q) => [q, await queue.counts(q)] as const)),
      queue.deadLetters.list({ resolved: false, limit: 500 }),
    ]);
    return {
      queues: Object.fromEntries(counts),
      deadLetters: { open: open.items.length, more: open.nextCursor !== undefined },
    };
  } catch (err) {
    if (!(err instanceof AppError) || err.code !== 'UNAVAILABLE') throw err;
    return { queues: null, deadLetters: null, queueError: err.message };
  }
}

async function status(config: EngineConfig): Promise<number> {
  const log = createLogger('engine', { level: 'silent' });
  const engine = await createEngine({ config, log });
  try {
    // All at once: with Redis away each read takes the queue's answer deadline, then says so.
    const [health, queueState] = await Promise.all([engine.health(), queueStatus(engine.queue)]);
    const holder = lockHolder(config.dataDir);
    const engineHolder = holder?.role === 'engine' ? holder : undefined;
    out(
      JSON.stringify(
        {
          version: version(),
          running: engineHolder !== undefined,
          pid: engineHolder?.pid ?? null,
          backend: engine.queue.backend,
          health,
          ...queueState,
          config: describeConfig(config),
        },
        null,
        2,
      ),
    );
  } finally {
    await engine.close(0);
  }
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (!command || command === 'help' || command === '--help' || command === '-h') {
      out(USAGE);
      return command ? 0 : 2;
    }
    if (command === '--version' || command === 'version') {
      out(version());
      return 0;
    }
    const config = loadConfig();
    switch (command) {
      case 'start':
        return await start(rest, config);
      case 'migrate':
        return migrate(config);
      case 'status':
        return await status(config);
      default: {
        const agents = agentsCommand(command);
        if (agents) return await agents(rest, config, out);
        const admin = adminCommand(command);
        if (!admin) throw new UsageError(`Unknown command "${command}"`);
        return admin(rest, config, out);
      }
    }
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (err instanceof UsageError || code?.startsWith('ERR_PARSE_ARGS_')) {
      process.stderr.write(`${errorMessage(err)}\n\n${USAGE}\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    if (err instanceof AppError) {
      process.stderr.write(`Error (${err.code}): ${err.message}\n`);
      return err.code === 'VALIDATION_ERROR' ? 2 : 1;
    }
    process.stderr.write(`Error: ${errorMessage(err)}\n`);
    return 1;
  }
}
