/**
 * Hosted ledger bench (see bench/README.md):
 *  (a) push BENCH_LEDGER_N usage entries (default 100,000) over loopback HTTP to `POST /v1/sync/push`
 *      in batches of 1,000 from a real desktop (its SQLite ledger, outbox and sync client), against
 *      a bare single-row INSERT loop of the same number of rows into the same database, in the same
 *      run: entries/s each and the ratio (target >= 0.3x);
 *  (b) the monthly billing run over BENCH_LEDGER_ORGS orgs (default 10,000) in a referral tree, all
 *      with credit: the time of one run (target well under a minute).
 * Both on embedded PGlite and, when Debian PostgreSQL is installed, on a throwaway PostgreSQL cluster
 * (test/support/postgres.ts). Always exits 0 when it ran to the end, even when a target is missed.
 *
 *   npm run bench -- ledger
 *   bash scripts/with-node22.sh node --import tsx bench/ledger.ts
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { sql } from 'drizzle-orm';
import { lockOrgs, postTransfers, type TransferDraft } from '../src-ledger/books.ts';
import type { LedgerDb } from '../src-ledger/db/connection.ts';
import { orgs } from '../src-ledger/db/schema.ts';
import { randomSecret } from '../src-ledger/ids.ts';
import { createOrg, issueDevice } from '../src-ledger/orgs.ts';
import { startLedgerServer, type LedgerServer } from '../src-ledger/server.ts';
import { C, outboxSize, testDesktop } from '../test/ledger-sync/support.ts';
import { startPostgres, type TestPostgres } from '../test/support/postgres.ts';
import { fmtRate, fmtRatio, intEnv, table, withCleanup } from './support.ts';

const BATCH = 1000;
const PUSH_TARGET = 0.3;
const BILLING_TARGET_S = 60;

interface Result {
  backend: string;
  pushPerS: number;
  insertPerS: number;
  billingS: number;
  billed: number;
}

/**
 * (a) a real desktop pushes: `n` usage transfers written to a desktop's own SQLite ledger (untimed;
 * the outbox trigger queues each), then one timed `billing.sync` run of its sync client pushes them
 * all, batch after batch, and applies the server's answer.
 */
async function pushAll(server: LedgerServer, n: number): Promise<number> {
  const org = await createOrg(server.database.db, { name: 'bench', planId: 'partner' }, Date.now());
  const { token } = await issueDevice(server.database.db, org.id, 'bench', Date.now());
  const desktop = testDesktop({ url: server.url, token });
  try {
    await desktop.sync.run(); // links the local org to the server's
    desktop.use(org.id, n);
    const started = performance.now();
    const result = await desktop.sync.run();
    const seconds = (performance.now() - started) / 1000;
    if (!result.ok || result.pushed !== n || outboxSize(desktop.sqlite) !== 0)
      throw new Error(`push failed: ${JSON.stringify(result)}`);
    return n / seconds;
  } finally {
    desktop.dispose();
  }
}

/** The baseline: one plain single-row INSERT after another (each its own commit) into the same database. */
async function insertLoop(db: LedgerDb, n: number): Promise<number> {
  await db.execute(
    sql`CREATE TABLE bench_rows (id uuid PRIMARY KEY, org_id text NOT NULL, amount_micro bigint NOT NULL, created_at bigint NOT NULL)`,
  );
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    await db.execute(sql`INSERT INTO bench_rows VALUES (${randomUUID()}, 'bench', 50000, ${Date.now()})`);
  }
  return n / ((performance.now() - started) / 1000);
}

/** (b) `count` orgs in a referral tree, on mixed plans, with credit; then one timed billing run. */
async function billing(server: LedgerServer, count: number): Promise<{ seconds: number; billed: number }> {
  const db = server.database.db;
  const t0 = Date.UTC(2026, 0, 1);
  const plans = ['free', 'starter', 'partner'];
  const rows: (typeof orgs.$inferInsert)[] = [];
  for (let i = 0; i < count; i++) {
    rows.push({
      id: `bench-org-${String(i).padStart(6, '0')}`,
      name: `org ${i}`,
      planId: plans[i % 3]!,
      referralCode: randomSecret(9),
      referredBy: i === 0 ? null : rows[Math.floor(Math.random() * i)]!.id!,
      cycleStart: t0 + (i % 28) * 86_400_000,
      createdAt: t0,
    });
  }
  for (let i = 0; i < rows.length; i += 2000) await db.insert(orgs).values(rows.slice(i, i + 2000));
  const drafts: TransferDraft[] = rows.map((r) => ({
    id: randomUUID(),
    orgId: r.id!,
    kind: 'TOPUP',
    amountMicro: 500 * C,
    reference: null,
    source: 'server',
  }));
  await db.transaction(async (tx) =>
    postTransfers(
      tx,
      await lockOrgs(
        tx,
        rows.map((r) => r.id!),
      ),
      drafts,
      t0,
    ),
  );
  const started = performance.now();
  const run = await server.runBilling();
  return { seconds: (performance.now() - started) / 1000, billed: run.billed };
}

async function measure(
  backend: string,
  databaseUrl: string | undefined,
  n: number,
  orgCount: number,
): Promise<Result> {
  const server = await startLedgerServer({ ...(databaseUrl ? { databaseUrl } : {}) });
  try {
    // Warm-up (JIT, prepared plans), not counted.
    await pushAll(server, 2 * BATCH);
    const pushPerS = await pushAll(server, n);
    const insertPerS = await insertLoop(server.database.db, n);
    console.log(`${backend}: push ${fmtRate(pushPerS)} entries/s, INSERT loop ${fmtRate(insertPerS)} rows/s`);
    const b = await billing(server, orgCount);
    console.log(`${backend}: billing run of ${b.billed} orgs in ${b.seconds.toFixed(1)} s`);
    const verify = await server.verify();
    if (!verify.ok) throw new Error(`books do not verify on ${backend}`);
    return { backend, pushPerS, insertPerS, billingS: b.seconds, billed: b.billed };
  } finally {
    await server.close();
  }
}

export async function main(): Promise<void> {
  const n = intEnv('BENCH_LEDGER_N', 100_000);
  const orgCount = intEnv('BENCH_LEDGER_ORGS', 10_000);
  let cluster: TestPostgres | undefined;
  await withCleanup(
    async () => {
      await cluster?.stop();
    },
    async () => {
      const results = [await measure('pglite', undefined, n, orgCount)];
      try {
        cluster = await startPostgres();
      } catch (err) {
        console.log(`postgres skipped: ${(err as Error).message}`);
      }
      if (cluster) results.push(await measure('postgres', await cluster.createDatabase(), n, orgCount));
      console.log(
        `\n${table([
          [
            'backend',
            'push entries/s',
            'INSERT rows/s',
            'ratio',
            `>= ${PUSH_TARGET}x`,
            'billing s',
            'orgs',
            `< ${BILLING_TARGET_S} s`,
          ],
          ...results.map((r) => {
            const ratio = r.pushPerS / r.insertPerS;
            return [
              r.backend,
              fmtRate(r.pushPerS),
              fmtRate(r.insertPerS),
              fmtRatio(ratio),
              ratio >= PUSH_TARGET ? 'PASS' : 'MISS',
              r.billingS.toFixed(1),
              fmtRate(r.billed),
              r.billingS < BILLING_TARGET_S ? 'PASS' : 'MISS',
            ];
          }),
        ])}`,
      );
    },
  );
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
