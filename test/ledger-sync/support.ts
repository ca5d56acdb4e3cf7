import { createCompliance } from '../../src-engine/compliance/alerts.ts';
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { EngineEvent } from '../../src-engine/contracts/events.ts';
import type { Authority } from '../../src-engine/contracts/sync.ts';
import type { Sqlite } from '../../src-engine/db/connection.ts';
import { createCommitEmitter, createEventBus } from '../../src-engine/events.ts';
import { createLedger, type Ledger } from '../../src-engine/ledger/ledger.ts';
import { createQuotas } from '../../src-engine/ledger/quota.ts';
import { ledgerSyncFromConfig } from '../../src-engine/ledger/sync/index.ts';
import type { RetryPolicy } from '../../src-engine/ledger/sync/client.ts';
import type { LedgerSync } from '../../src-engine/ledger/sync/sync.ts';
import { createLogger } from '../../src-engine/logger.ts';
import type { LedgerServer } from '../../src-ledger/server.ts';
import { ADMIN_TOKEN } from '../ledger-server/support.ts';
import { tempDatabase } from '../support/temp-database.ts';

export { ADMIN_TOKEN, C, client, startTestLedger } from '../ledger-server/support.ts';
export { until } from '../support/process.ts';

export interface TestDesktop {
  sqlite: Sqlite;
  ledger: Ledger;
  sync: LedgerSync;
  events: EngineEvent[];
  /** Posts `n` local usage transfers of `amountMicro` each (what a capture writes); returns their ids. */
  use(orgId: string, n: number, amountMicro?: number): string[];
  /** The engine restarted with another LEDGER_TOKEN (and LEDGER_URL): `sync` is then that one's. */
  useToken(token: string, url?: string): void;
  dispose(): void;
}

/** The desktop side wired as the engine wires it (real SQLite, real HTTP), without the rest of the engine. */
export function testDesktop(opts: {
  url: string;
  token: string;
  graceH?: number;
  now?: () => number;
  retry?: Partial<RetryPolicy>;
  fetch?: typeof fetch;
}): TestDesktop {
  const db = tempDatabase();
  const { sqlite } = db;
  const seen: EngineEvent[] = [];
  const bus = createEventBus<EngineEvent>();
  bus.on((e) => seen.push(e));
  const txEvents = createCommitEmitter(bus, () => sqlite.inTransaction);
  const ledger = createLedger({ sqlite, events: txEvents, now: opts.now });
  const quotas = createQuotas({ sqlite, now: opts.now });
  const alerts = createCompliance({ sqlite, quotas, ledger, lowCreditMicro: 0, events: bus, now: opts.now });
  const syncFor = (url: string, token: string) =>
    ledgerSyncFromConfig({
      config: {
        services: { ledgerUrl: url },
        ledger: { token, syncIntervalS: 60, offlineGraceH: opts.graceH ?? 72 },
      },
      sqlite,
      ledger,
      quotas,
      events: bus,
      txEvents,
      alerts,
      log: createLogger('engine', { level: 'silent' }),
      retry: { baseMs: 20, maxMs: 200, ...opts.retry },
      fetch: opts.fetch,
      now: opts.now,
    })!;
  return {
    sqlite,
    ledger,
    sync: syncFor(opts.url, opts.token),
    events: seen,
    useToken(token, url = opts.url) {
      this.sync = syncFor(url, token);
    },
    use(orgId, n, amountMicro = 50_000) {
      return sqlite.transaction(() =>
        Array.from(
          { length: n },
          () =>
            ledger.transfer(
              { id: randomUUID(), orgId, kind: 'USAGE_MESSAGE', amountMicro, reference: 'test usage' },
              { force: true },
            ).id,
        ),
      )();
    },
    dispose: () => db.dispose(),
  };
}

/** What the server holds true for an org (admin route). */
export async function authorityOf(server: LedgerServer, orgId: string): Promise<Authority> {
  const res = await fetch(`${server.url}/v1/admin/orgs/${orgId}/authority`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  if (!res.ok) throw new Error(`authority: ${res.status} ${await res.text()}`);
  return (await res.json()) as Authority;
}

/** The ids of the device entries the server stored for an org, with how often each is there. */
export async function serverUsageIds(server: LedgerServer, orgId: string): Promise<Map<string, number>> {
  const res = (await server.database.db.execute(
    sql`SELECT id::text AS id, count(*)::int AS n FROM ledger_transfers
        WHERE org_id = ${orgId} AND source = 'device' GROUP BY id`,
  )) as unknown as { rows: { id: string; n: number }[] };
  return new Map(res.rows.map((r) => [r.id, r.n]));
}

/** Local usage transfer ids of an org. */
export const localUsageIds = (sqlite: Sqlite, orgId: string): string[] =>
  (
    sqlite
      .prepare(
        `SELECT id FROM ledger_transfers WHERE org_id = ? AND kind IN ('USAGE_MESSAGE', 'USAGE_AGENT')`,
      )
      .all(orgId) as { id: string }[]
  ).map((r) => r.id);

export const outboxSize = (sqlite: Sqlite): number =>
  (sqlite.prepare(`SELECT count(*) AS n FROM ledger_outbox`).get() as { n: number }).n;
