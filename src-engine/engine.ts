import type { EngineConfig } from './config/index.ts';
import type { Check, Health } from './contracts/health.ts';
import { openDatabase, type DatabaseHandle } from './db/connection.ts';
import { errorMessage } from './errors.ts';
import { createApiKeys, type ApiKeys } from './guard/api-keys.ts';
import type { Logger } from './logger.ts';
import type { JobQueue } from './queue/port.ts';
import { createSqliteQueue } from './queue/sqlite.ts';

export interface Engine {
  readonly config: EngineConfig;
  readonly log: Logger;
  readonly db: DatabaseHandle;
  readonly queue: JobQueue;
  readonly apiKeys: ApiKeys;
  health(): Promise<Health>;
  /** Stops workers (finishing or releasing active jobs within `graceMs`), then closes storage. */
  close(graceMs?: number): Promise<void>;
}

export interface EngineOptions {
  config: EngineConfig;
  log: Logger;
  /** This process holds the data-dir lock (see lock.ts): jobs left active belong to a dead engine. */
  exclusive?: boolean;
}

/** Opens the queue backend the configuration asks for: BullMQ when REDIS_URL is set, else SQLite. */
async function openQueue(opts: EngineOptions, db: DatabaseHandle): Promise<JobQueue> {
  const log = opts.log.child({ module: 'queue' });
  if (opts.config.redisUrl) {
    const { createBullmqQueue } = await import('./queue/bullmq.ts');
    return createBullmqQueue({ url: opts.config.redisUrl, log });
  }
  return createSqliteQueue({
    sqlite: db.sqlite,
    log,
    leaseMs: opts.config.queueLeaseMs,
    exclusive: opts.exclusive,
  });
}

async function check(fn: () => unknown): Promise<Check> {
  try {
    await fn();
    return { status: 'healthy' };
  } catch (err) {
    return { status: 'unhealthy', reason: errorMessage(err) };
  }
}

/** The composition root: builds every adapter from the configuration and wires them together. */
export async function createEngine(opts: EngineOptions): Promise<Engine> {
  const { config, log } = opts;
  const db = openDatabase(config.dbFile);
  const queue = await openQueue(opts, db).catch((err: unknown) => {
    db.close();
    throw err;
  });
  const startedAt = Date.now();
  let closed = false;

  return {
    config,
    log,
    db,
    queue,
    apiKeys: createApiKeys({ sqlite: db.sqlite }),
    async health() {
      const checks = {
        database: await check(() => db.sqlite.prepare('SELECT 1').get()),
        queue: await check(() => queue.ping()),
      };
      const ok = checks.database.status === 'healthy' && checks.queue.status === 'healthy';
      return {
        status: ok ? 'ok' : 'degraded',
        service: 'engine',
        uptime: (Date.now() - startedAt) / 1000,
        checks,
      };
    },
    async close(graceMs = 10_000) {
      if (closed) return;
      closed = true;
      await queue.close(graceMs);
      db.close();
    },
  };
}
