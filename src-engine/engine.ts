import type { Redis } from 'ioredis';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAgentWorker, createRunSettlement, type AgentWorker } from './cage/agent-worker.ts';
import { createCageEngine, createDockerClient, type CageEngine } from './cage/index.ts';
import { createCompliance, type Compliance } from './compliance/alerts.ts';
import { watchCompliance } from './compliance/watch.ts';
import type { EngineConfig } from './config/index.ts';
import type { EngineEvent } from './contracts/events.ts';
import type { Health } from './contracts/health.ts';
import { openDatabase, runMigrations, type DatabaseHandle } from './db/connection.ts';
import { openWriteJournal } from './db/journal.ts';
import { createCommitEmitter, createEventBus, type EventBus } from './events.ts';
import { createApiKeys, type ApiKeys } from './guard/api-keys.ts';
import { createAuthenticator, type Authenticate } from './guard/auth.ts';
import { createIdempotencyStore } from './guard/idempotency.ts';
import { createOperations, type Operations } from './guard/operations.ts';
import { createJobOutbox } from './guard/outbox.ts';
import { createGuard } from './guard/pipeline.ts';
import { createRateLimiter } from './guard/rate-limit.ts';
import { createSessions, type Sessions } from './guard/sessions.ts';
import { probe, serviceChecks } from './health-checks.ts';
import { createEvolutionClient } from './gateways/evolution/index.ts';
import { createKokoroClient, type KokoroClient } from './gateways/kokoro/index.ts';
import { createOllamaClient, type OllamaClient } from './gateways/ollama/index.ts';
import { createCharges, type Charges } from './ledger/charges.ts';
import { createLedger, type Ledger } from './ledger/ledger.ts';
import { parseCredits } from './ledger/money.ts';
import { createQuotas, type Quotas } from './ledger/quota.ts';
import { ledgerSyncFromConfig, scheduleLedgerSync, type LedgerSync } from './ledger/sync/index.ts';
import type { Logger } from './logger.ts';
import type { JobQueue } from './queue/port.ts';
import { createSqliteQueue } from './queue/sqlite.ts';
import { startSmartSend, type SmartSendRuntime } from './smartsend/runtime.ts';

export interface Engine extends Operations {
  readonly config: EngineConfig;
  readonly log: Logger;
  readonly db: DatabaseHandle;
  readonly queue: JobQueue;
  /** Every event the engine emits (jobs, ledger, ...): what the UI gets over IPC and the WebSocket. */
  readonly events: EventBus<EngineEvent>;
  readonly apiKeys: ApiKeys;
  readonly sessions: Sessions;
  /** The org of an API key or session token, or UNAUTHORIZED. */
  readonly authenticate: Authenticate;
  readonly ledger: Ledger;
  readonly quotas: Quotas;
  readonly charges: Charges;
  readonly compliance: Compliance;
  /** WhatsApp sending; undefined when EVOLUTION_URL is not set. */
  readonly smartsend?: SmartSendRuntime;
  readonly ollama: OllamaClient;
  readonly cage: CageEngine;
  /** Runs `agent.run` jobs in cages; only in the engine that holds the data-dir lock. */
  readonly agents?: AgentWorker;
  /** The hosted-ledger sync; undefined when LEDGER_URL or LEDGER_TOKEN is not set. */
  readonly ledgerSync?: LedgerSync;
  readonly kokoro: KokoroClient;
  health(): Promise<Health>;
  /** Stops workers (finishing or releasing active jobs within `graceMs`), then closes storage. */
  close(graceMs?: number): Promise<void>;
}

export interface EngineOptions {
  config: EngineConfig;
  log: Logger;
  /** This process holds the data-dir lock (see lock.ts): jobs left active belong to a dead engine. */
  exclusive?: boolean;
  /** How often expired credit holds are released (ms). */
  sweepMs?: number;
  /**
   * Acknowledge guarded commands from the write journal (db/journal.ts). Only an engine alone on its
   * data dir may: the journal is replayed by the next one to open it. Default: `exclusive`.
   */
  journal?: boolean;
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

const REDIS_READY_WAIT_MS = 2_000;

async function openRedis(url: string, log: Logger): Promise<Redis> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, { maxRetriesPerRequest: 2, enableOfflineQueue: true, lazyConnect: false });
  // Without a listener ioredis prints every failed reconnect to stderr, outside the JSON log.
  redis.on('error', (err) => log.warn({ err }, 'rate-limit redis connection error'));
  // The rate limits count in Redis once it is ready, in memory until then (their fallback): a start
  // waits for it a moment instead of splitting its first requests' counts between the two.
  await Promise.race([once(redis, 'ready'), sleep(REDIS_READY_WAIT_MS, undefined, { ref: false })]).catch(
    () => {}, // unreachable now: the fallback counts, and the client keeps reconnecting
  );
  return redis;
}

/** The composition root: builds every adapter from the configuration and wires them together. */
export async function createEngine(opts: EngineOptions): Promise<Engine> {
  const { config, log } = opts;
  const journaled = opts.journal ?? opts.exclusive ?? false;
  const db = openDatabase(config.dbFile, { migrate: !journaled, replayJournal: !journaled });
  const { sqlite } = db;
  const opened: { close(): unknown }[] = [db];
  // Each close in its own promise: one that throws must not skip the rest (the database last).
  const closeOpened = () => Promise.allSettled(opened.reverse().map(async (o) => o.close()));
  try {
    // The engine holding the data-dir lock acknowledges guarded commands from a write journal
    // (db/journal.ts). What a crash left in it is replayed first, on the schema it was written for;
    // migrations run after.
    const journal = journaled ? openWriteJournal(sqlite, config.dbFile) : undefined;
    if (journal) opened.push(journal);
    const found = journal ?? db.leftJournal;
    if (found?.replayed)
      log.info({ commands: found.replayed }, 'applied the guard journal left by the last run');
    if (found?.setAside) {
      log.error(
        found.setAside,
        'the guard journal left by the last run could not be applied; it was set aside, and the commands it holds are not in the database',
      );
    }
    if (journal) runMigrations(db);
    const queue = await openQueue(opts, db);
    opened.push({ close: () => queue.close() });
    const redis = config.redisUrl
      ? await openRedis(config.redisUrl, log.child({ module: 'rate-limit' }))
      : undefined;
    if (redis) opened.push({ close: () => redis.quit() });

    const events = createEventBus<EngineEvent>((err) => log.warn({ err }, 'event listener failed'));
    queue.events.on((e) => events.emit(e));
    const txEvents = createCommitEmitter(events, () => sqlite.inTransaction);
    const ledger = createLedger({ sqlite, events: txEvents });
    const quotas = createQuotas({ sqlite });
    const compliance = createCompliance({
      sqlite,
      quotas,
      ledger,
      lowCreditMicro: parseCredits(config.lowCreditAlert),
      events,
    });
    const stopCompliance = watchCompliance({ events, compliance, log: log.child({ module: 'compliance' }) });
    opened.push({ close: stopCompliance });
    const ledgerSync = ledgerSyncFromConfig({
      config,
      sqlite,
      ledger,
      quotas,
      events,
      txEvents,
      alerts: compliance,
      log,
    });
    // Offline past LEDGER_OFFLINE_GRACE_H, overage is refused (quota-covered work still goes).
    const charges = createCharges({ sqlite, ledger, overage: ledgerSync?.overageRefusal });
    const apiKeys = createApiKeys({ sqlite });
    const sessions = createSessions();
    const outbox = createJobOutbox({ sqlite, queue, log: log.child({ module: 'outbox' }) });
    opened.push(outbox);
    const authenticate = createAuthenticator({ apiKeys, sessions });
    const guard = createGuard({
      sqlite,
      authenticate,
      idempotency: createIdempotencyStore({ sqlite }),
      rateLimiter: createRateLimiter({ redis }),
      quotas,
      outbox,
      events: txEvents,
      journal,
      onCommitError: (err, retryInMs) =>
        log.error({ err, retryInMs }, 'guard batch commit failed; its commands stay in the journal'),
    });

    // Jobs a crashed engine accepted but never handed to Redis (see outbox.ts).
    outbox.resume();

    const sweep = () => {
      try {
        const expired = ledger.sweepExpired();
        if (expired.length > 0) log.info({ holds: expired.length }, 'released expired credit holds');
      } catch (err) {
        log.error({ err }, 'expired-hold sweep failed');
      }
    };
    sweep();
    const sweeper = setInterval(sweep, opts.sweepMs ?? 30_000);
    sweeper.unref();
    opened.push({ close: () => clearInterval(sweeper) });

    const evolutionUrl = config.services.evolutionUrl;
    if (evolutionUrl && !config.evolution.apiKey)
      log.warn('EVOLUTION_URL is set but EVOLUTION_API_KEY is not');
    // Workers run only in the engine that holds the data-dir lock (never in `status`).
    const smartsend =
      evolutionUrl && opts.exclusive
        ? await startSmartSend({
            sqlite,
            queue,
            evolution: createEvolutionClient({
              baseUrl: evolutionUrl,
              apiKey: config.evolution.apiKey ?? '',
              timeoutMs: config.evolution.timeoutMs,
              log: log.child({ module: 'evolution' }),
            }),
            charges,
            compliance,
            settings: config.smartsend,
            auth: { secret: config.evolution.webhookSecret, jwtKey: config.evolution.webhookJwtKey },
            bus: events,
            txEvents,
            log,
          })
        : undefined;

    const ollama = createOllamaClient({
      baseUrl: config.services.ollamaUrl,
      log: log.child({ module: 'ollama' }),
    });
    const kokoro = createKokoroClient({
      baseUrl: config.services.kokoroUrl,
      log: log.child({ module: 'kokoro' }),
    });
    const docker = createDockerClient(config.services.dockerHost);
    const cage = createCageEngine({
      docker,
      ollama,
      log: log.child({ module: 'cage' }),
      // The engine id scopes the start-up reaper to this data dir's cages on a shared Docker host.
      options: {
        ...config.cage,
        engineId: createHash('sha256').update(config.dataDir).digest('hex').slice(0, 16),
      },
    });
    opened.push({ close: () => cage.close() });
    let agents: AgentWorker | undefined;
    if (opts.exclusive) {
      agents = createAgentWorker({ sqlite, queue, cage, charges, compliance, events, txEvents, log });
      const ended = await agents.recover();
      if (ended > 0) log.warn({ runs: ended }, 'agent runs left running by the last engine were ended');
      agents.start();
    }
    // Like the other workers, the sync runs only in the engine that holds the data-dir lock.
    const syncSchedule =
      ledgerSync && opts.exclusive
        ? scheduleLedgerSync({ queue, sync: ledgerSync, intervalS: config.ledger.syncIntervalS, log })
        : undefined;
    if (syncSchedule) opened.push(syncSchedule);
    const services = serviceChecks(config.services, { ollama, kokoro, cage }, ledgerSync);
    const startedAt = Date.now();
    async function health(): Promise<Health> {
      const [database, queueCheck, others] = await Promise.all([
        probe(async () => void sqlite.prepare('SELECT 1').get()),
        probe(() => queue.ping()),
        services(),
      ]);
      const ok = database.status === 'healthy' && queueCheck.status === 'healthy';
      return {
        status: ok ? 'ok' : 'degraded',
        service: 'engine',
        uptime: (Date.now() - startedAt) / 1000,
        checks: { database, queue: queueCheck, ...others },
      };
    }
    const operations = createOperations({
      sqlite,
      guard,
      ledger,
      quotas,
      charges,
      queue,
      health,
      ollama,
      kokoro,
      smartsend: config.smartsend,
      // Without the worker (no data-dir lock) a queued run can still be cancelled; a running one cannot.
      agents: agents ?? createRunSettlement({ sqlite, charges, compliance, events, txEvents }),
      referrals: ledgerSync && ((orgId) => ledgerSync.referrals(orgId)),
    });

    let closed = false;
    return {
      config,
      log,
      db,
      queue,
      events,
      apiKeys,
      sessions,
      authenticate,
      ledger,
      quotas,
      charges,
      compliance,
      smartsend,
      ollama,
      cage,
      agents,
      ledgerSync,
      kokoro,
      health,
      call: operations.call,
      async close(graceMs = 10_000) {
        if (closed) return;
        closed = true;
        clearInterval(sweeper);
        syncSchedule?.close();
        outbox.close();
        await queue.close(graceMs);
        await cage.close();
        // The checks due after the last settlements and cancellations, while the database is open.
        stopCompliance();
        await redis?.quit().catch(() => {});
        try {
          journal?.close();
        } catch (err) {
          log.error(
            { err },
            'the last guard batch did not commit; the next start applies it from the journal',
          );
        }
        db.close();
      },
    };
  } catch (err) {
    await closeOpened();
    throw err;
  }
}
