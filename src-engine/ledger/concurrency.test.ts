import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { MICRO_PER_CREDIT as C } from '../contracts/ledger.ts';
import { createLedger } from './ledger.ts';
import { createOrganization } from './orgs.ts';
import { tempDatabase } from '../../test/support/temp-database.ts';

const WORKER = join(import.meta.dirname, 'concurrency.worker.ts');
const WORKERS = 4;
const ITERATIONS = 250;

interface Stats {
  startedAt: number;
  endedAt: number;
  minAvailable: number;
  reserved: number;
  insufficient: number;
  conflicts: number;
  captured: number;
  released: number;
  resolved: string[];
}

/** Starts a worker; `ready` resolves once it has opened the database, `go()` lets it run. */
function startWorker(file: string, orgId: string, seed: number) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', WORKER, file, orgId, String(ITERATIONS), String(seed)],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  const ready = new Promise<void>((resolve) => {
    child.stderr.on('data', (d) => {
      err += String(d);
      if (err.includes('ready\n')) resolve();
    });
  });
  child.stdout.on('data', (d) => (out += String(d)));
  const done = new Promise<Stats>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve(JSON.parse(out) as Stats);
      else reject(new Error(`worker exited ${code}: ${err}`));
    });
  });
  return { ready, done, go: () => child.stdin.end('go\n') };
}

let db: ReturnType<typeof tempDatabase>;
beforeEach(() => {
  db = tempDatabase();
});
afterEach(() => db.dispose());

it('several processes hammering one org in one SQLite file never overspend or resolve a hold twice', async () => {
  const ledger = createLedger({ sqlite: db.sqlite });
  const org = createOrganization({ sqlite: db.sqlite }, { name: 'Shared', planId: 'starter' });
  // Little credit, so the processes keep running into each other's holds at the limit.
  const TOPUP = 20 * C;
  ledger.transfer({ id: randomUUID(), orgId: org, kind: 'TOPUP', amountMicro: TOPUP });

  const workers = Array.from({ length: WORKERS }, (_, i) => startWorker(db.file, org, i + 1));
  await Promise.race([Promise.all(workers.map((w) => w.ready)), Promise.all(workers.map((w) => w.done))]);
  for (const w of workers) w.go();
  const stats = await Promise.all(workers.map((w) => w.done));

  // The processes really ran at the same time, and none ever saw a negative available balance.
  expect(Math.max(...stats.map((s) => s.startedAt))).toBeLessThan(Math.min(...stats.map((s) => s.endedAt)));
  for (const s of stats) expect(s.minAvailable).toBeGreaterThanOrEqual(0);

  // Each hold was resolved by exactly one call, across all processes.
  const resolved = stats.flatMap((s) => s.resolved);
  expect(new Set(resolved).size).toBe(resolved.length);
  const counts = db.sqlite
    .prepare(
      `SELECT state, count(*) AS n, coalesce(sum(captured_micro), 0) AS captured FROM reservations GROUP BY state`,
    )
    .all() as { state: string; n: number; captured: number }[];
  const byState = Object.fromEntries(counts.map((c) => [c.state, c]));
  const reserved = stats.reduce((s, x) => s + x.reserved, 0);
  expect(resolved.length).toBe(reserved);
  expect(byState.pending).toBeUndefined();
  expect((byState.posted?.n ?? 0) + (byState.voided?.n ?? 0)).toBe(reserved);
  expect(byState.posted?.n ?? 0).toBe(stats.reduce((s, x) => s + x.captured, 0));

  // The contention was real: some reserves were refused and some second resolutions were CONFLICTs.
  expect(stats.reduce((s, x) => s + x.insufficient, 0)).toBeGreaterThan(0);
  expect(stats.reduce((s, x) => s + x.conflicts, 0)).toBeGreaterThan(0);

  const captured = byState.posted?.captured ?? 0;
  const balance = ledger.balance(org);
  expect(balance).toEqual({
    orgId: org,
    postedMicro: TOPUP - captured,
    pendingMicro: 0,
    availableMicro: TOPUP - captured,
  });
  expect(balance.availableMicro).toBeGreaterThanOrEqual(0);
  expect(ledger.accountBalance('system:usage')).toBe(captured);
  expect(ledger.verify()).toEqual({
    ok: true,
    balanceMismatches: [],
    unbalancedTransfers: [],
    badReservations: [],
  });
}, 30_000);
