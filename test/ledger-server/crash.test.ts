import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HostedOrg } from '../../src-engine/contracts/hosted-ledger.ts';
import type { PushEntry, PushResponse } from '../../src-engine/contracts/sync.ts';
import { sql } from 'drizzle-orm';
import { queryRows, verifyBooks } from '../../src-ledger/books.ts';
import { openLedgerDatabase } from '../../src-ledger/db/connection.ts';
import { startUntil } from '../support/process.ts';
import { ADMIN_TOKEN, BACKENDS, C, client, usageEntries, useBackend } from './support.ts';

const MAIN = join(import.meta.dirname, '../../src-ledger/main.ts');
const READY = /listening on (http:\/\/\S+)/;
const BATCH = 250;
const KILLS = 3;

/**
 * The server is killed with SIGKILL while pushes are in flight (so some die mid-commit), restarted on
 * the same database, and the device re-pushes everything it has no acknowledgement for, as its
 * outbox would. Every entry must end up stored exactly once, the acknowledged ones included.
 */
describe.each(BACKENDS)('hosted ledger killed mid-commit on %s', (backend) => {
  const source = useBackend(backend);

  it('stores every pushed entry exactly once after kill -9 and restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'agencia-ledger-crash-'));
    const databaseUrl = await source.databaseUrl();
    const env = {
      ...process.env,
      LEDGER_PORT: '0',
      LEDGER_ADMIN_TOKEN: ADMIN_TOKEN,
      LEDGER_BILLING_INTERVAL_S: '0',
      LOG_LEVEL: 'silent',
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : { LEDGER_DATA_DIR: dataDir }),
    };
    const start = async () => {
      const run = startUntil(['--import', 'tsx', MAIN], READY, env);
      return { run, url: (await run.ready)[1]! };
    };
    try {
      let server = await start();
      let api = client(server.url);
      const org: HostedOrg = await api.createOrg('Crashy', { planId: 'partner' });
      const { token } = await api.issueDevice(org.id);
      await api.topUp(org.id, 1000 * C);

      const outbox: PushEntry[] = [];
      const acked = new Set<string>();
      let seq = 0;
      let interrupted = 0;
      const fill = () => {
        outbox.push(...usageEntries(BATCH * 4, seq + 1, Date.now(), 1_000));
        seq += BATCH * 4;
      };
      const pushOnce = async (url: string) => {
        const pending = outbox.filter((e) => !acked.has(e.id)).slice(0, BATCH);
        const res = await fetch(`${url}/v1/sync/push`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ lastPushedSeq: 0, entries: pending }),
        });
        const body = (await res.json()) as PushResponse;
        expect(body.rejected).toEqual([]);
        for (const id of body.accepted) acked.add(id);
      };

      for (let k = 0; k < KILLS; k++) {
        fill();
        // Several pushes in flight at once; kill after a random moment while they run.
        const inflight = [0, 1, 2, 3].map(() => pushOnce(server.url).catch(() => void interrupted++));
        await new Promise((r) => setTimeout(r, 20 + Math.random() * 60));
        server.run.child.kill('SIGKILL');
        await server.run.exited;
        await Promise.all(inflight);
        server = await start();
        api = client(server.url);
      }
      // The kills did cut requests off (their outcome unknown to the device).
      expect(interrupted).toBeGreaterThan(0);
      // After the last restart, drain the outbox.
      while (outbox.some((e) => !acked.has(e.id))) await pushOnce(server.url);
      const authority = (await api.admin<HostedOrg>('GET', `/v1/admin/orgs/${org.id}`)).body;
      server.run.child.kill('SIGTERM');
      await server.run.exited;

      const db = await openLedgerDatabase({ databaseUrl, dataDir });
      try {
        const [row] = await queryRows<{ n: string; distinct_ids: string; sum: string }>(
          db.db,
          sql`SELECT count(*)::text AS n, count(DISTINCT id)::text AS distinct_ids, sum(amount_micro)::text AS sum
                FROM ledger_transfers WHERE org_id = ${org.id} AND source = 'device'`,
        );
        expect(Number(row!.n)).toBe(outbox.length);
        expect(Number(row!.distinct_ids)).toBe(outbox.length);
        const stored = new Set(
          (
            await queryRows<{ id: string }>(
              db.db,
              sql`SELECT id FROM ledger_transfers WHERE source = 'device'`,
            )
          ).map((r) => r.id),
        );
        expect(outbox.every((e) => stored.has(e.id))).toBe(true);
        expect(Number(row!.sum)).toBe(outbox.length * 1_000);
        expect(authority.balanceMicro).toBe(1000 * C - outbox.length * 1_000);
        expect(await verifyBooks(db.db)).toMatchObject({ ok: true });
      } finally {
        await db.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
