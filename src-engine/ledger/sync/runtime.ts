import type { EngineConfig } from '../../config/index.ts';
import type { EngineEvent } from '../../contracts/events.ts';
import type { Sqlite } from '../../db/connection.ts';
import { errorMessage } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { JobQueue } from '../../queue/port.ts';
import type { Ledger } from '../ledger.ts';
import type { Quotas } from '../quota.ts';
import type { SyncAlerts } from './sync.ts';
import { createSyncClient, type RetryPolicy } from './client.ts';
import { deviceKey, endpointKey, installOutboxTrigger } from './store.ts';
import { createLedgerSync, type LedgerSync } from './sync.ts';

export const SYNC_QUEUE = 'billing.sync';
/** A run that takes longer than this (a huge backlog on a slow link) is cut; the next one resumes. */
const RUN_TIMEOUT_MS = 5 * 60_000;

export interface LedgerSyncSetup {
  config: { services: Pick<EngineConfig['services'], 'ledgerUrl'>; ledger: EngineConfig['ledger'] };
  sqlite: Sqlite;
  ledger: Ledger;
  quotas: Quotas;
  events: { emit(event: EngineEvent): void };
  txEvents: { flush(): void; discard(): void };
  /** Where the sync's alerts go: the compliance alerts. */
  alerts: SyncAlerts;
  log: Logger;
  fetch?: typeof fetch;
  retry?: Partial<RetryPolicy>;
  now?: () => number;
}

/**
 * The sync from the engine's configuration, or undefined when LEDGER_URL or LEDGER_TOKEN is unset
 * (local ledger only). Installs the outbox trigger: from now on every local usage entry is queued
 * for the server in its own transaction.
 */
export function ledgerSyncFromConfig(setup: LedgerSyncSetup): LedgerSync | undefined {
  const url = setup.config.services.ledgerUrl;
  const token = setup.config.ledger.token;
  if (!url || !token) return undefined;
  installOutboxTrigger(setup.sqlite);
  const log = setup.log.child({ module: 'ledger-sync' });
  return createLedgerSync({
    sqlite: setup.sqlite,
    ledger: setup.ledger,
    quotas: setup.quotas,
    client: createSyncClient({ baseUrl: url, token, log, fetch: setup.fetch, retry: setup.retry }),
    endpoint: endpointKey(url, token),
    device: deviceKey(token),
    graceMs: setup.config.ledger.offlineGraceH * 3_600_000,
    events: setup.events,
    txEvents: setup.txEvents,
    alerts: setup.alerts,
    log,
    now: setup.now,
  });
}

/**
 * Runs the sync as `billing.sync` jobs: one at start and one every `intervalS` (only when none is
 * waiting, so an outage never piles them up). A failed run is recorded and completes (the next tick
 * is the retry), so an outage does not fill the dead-letter store. Only for the engine that holds
 * the data-dir lock.
 */
export function scheduleLedgerSync(deps: {
  queue: JobQueue;
  sync: LedgerSync;
  intervalS: number;
  log: Logger;
}): { close(): void } {
  const { queue, sync, log } = deps;
  queue.process(
    SYNC_QUEUE,
    async (job) => {
      try {
        return await sync.run(job.signal);
      } catch (err) {
        if (job.signal.aborted) throw err;
        log.warn({ err: errorMessage(err) }, 'ledger sync failed; next try at the next tick');
        return { ok: false, pushed: 0, rejected: 0, pulled: 0, corrections: 0, error: errorMessage(err) };
      }
    },
    { concurrency: 1, timeoutMs: RUN_TIMEOUT_MS },
  );
  const tick = async () => {
    try {
      const c = await queue.counts(SYNC_QUEUE);
      if (c.waiting + c.delayed + c.active === 0) await queue.add(SYNC_QUEUE, {}, { attempts: 1 });
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'could not queue the ledger sync');
    }
  };
  void tick();
  const timer = setInterval(() => void tick(), deps.intervalS * 1000);
  timer.unref();
  return { close: () => clearInterval(timer) };
}
