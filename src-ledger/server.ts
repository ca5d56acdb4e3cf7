import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { BillingRun } from '../src-engine/contracts/hosted-ledger.ts';
import type { VerifyReport } from '../src-engine/contracts/ledger.ts';
import { createLogger, type Logger } from '../src-engine/logger.ts';
import { runBilling } from './billing.ts';
import { verifyBooks } from './books.ts';
import { openLedgerDatabase, type LedgerDatabase } from './db/connection.ts';
import { createLedgerApp } from './http.ts';

export interface LedgerServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: any free port (read `port`/`url` back). */
  port?: number;
  /** A real PostgreSQL; unset = embedded PGlite in `dataDir`, or in memory when that is unset too. */
  databaseUrl?: string;
  dataDir?: string;
  /** Bearer token of the admin routes; unset = the admin API answers 401. */
  adminToken?: string;
  /** Stripe endpoint secret; unset = the webhook answers 503. */
  stripeWebhookSecret?: string;
  /** The clock (ms); default Date.now. Tests move it to simulate months. */
  now?: () => number;
  /** Default: a silent logger. */
  logger?: Logger;
  /** Run the billing job this often (and once at start); 0 or unset = only through the admin route. */
  billingIntervalMs?: number;
}

export interface LedgerServer {
  /** `http://host:port`, no trailing slash. */
  url: string;
  port: number;
  app: FastifyInstance;
  database: LedgerDatabase;
  /** Runs the monthly billing job now (what `POST /v1/admin/billing/run` does). */
  runBilling(): Promise<BillingRun>;
  /** Proves the books (what `GET /v1/admin/verify` does). */
  verify(): Promise<VerifyReport>;
  /** Stops the timer, closes HTTP, then the database. */
  close(): Promise<void>;
}

const VERSION = (
  JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string }
).version;

/** The composition root: opens (and migrates) the database, builds the API, listens. */
export async function startLedgerServer(options: LedgerServerOptions = {}): Promise<LedgerServer> {
  const now = options.now ?? Date.now;
  const log = options.logger ?? createLogger('ledger', { level: 'silent' });
  const database = await openLedgerDatabase({ databaseUrl: options.databaseUrl, dataDir: options.dataDir });
  let app: FastifyInstance | undefined;
  let timer: NodeJS.Timeout | undefined;
  let billing: Promise<BillingRun> | undefined;
  // One run at a time in this process (runs in several processes are safe too: row locks + ids).
  const bill = () =>
    (billing ??= runBilling(database.db, now(), log).finally(() => {
      billing = undefined;
    }));
  try {
    app = await createLedgerApp({
      database,
      now,
      log,
      adminToken: options.adminToken,
      stripeWebhookSecret: options.stripeWebhookSecret,
      version: VERSION,
    });
    await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
  } catch (err) {
    await app?.close();
    await database.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 0);
  const host = options.host ?? '127.0.0.1';
  if (options.billingIntervalMs) {
    const tick = () =>
      void bill().catch((err: unknown) => log.error({ err }, 'billing run failed; retried at the next tick'));
    tick();
    timer = setInterval(tick, options.billingIntervalMs);
    timer.unref();
  }
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    app,
    database,
    runBilling: bill,
    verify: () => verifyBooks(database.db),
    close: () =>
      (closing ??= (async () => {
        clearInterval(timer);
        await app.close();
        await billing?.catch(() => {});
        await database.close();
      })()),
  };
}
