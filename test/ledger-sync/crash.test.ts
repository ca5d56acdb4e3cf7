// Kill -9 on either side of a push. The desktop engine dies after the server stored a batch but
// before the answer arrived; the server (a child process on an on-disk PGlite) dies while it commits
// a batch. After a restart every entry is on the server exactly once and both sides agree.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Statement } from '../../src-engine/contracts/hosted-ledger.ts';
import { withDatabase } from '../../src-engine/db/connection.ts';
import { createLedger } from '../../src-engine/ledger/ledger.ts';
import { createOrganization } from '../../src-engine/ledger/orgs.ts';
import { installOutboxTrigger } from '../../src-engine/ledger/sync/index.ts';
import { startFlakyProxy, type FlakyProxy } from '../support/flaky-proxy.ts';
import { startUntil } from '../support/process.ts';
import {
  ADMIN_TOKEN,
  authorityOf,
  client,
  localUsageIds,
  outboxSize,
  serverUsageIds,
  startTestLedger,
  testDesktop,
  until,
  C,
} from './support.ts';
import { randomUUID } from 'node:crypto';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'agencia-desk-engine.js');
const READY = /listening on (http:\/\/127\.0\.0\.1:\d+)/;

let dir: string;
const cleanups: (() => unknown)[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agencia-sync-crash-'));
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

/** Local usage written as a capture writes it, with the outbox trigger in place. */
function writeUsage(file: string, orgId: string, n: number, amountMicro: number) {
  withDatabase(file, (db) => {
    installOutboxTrigger(db.sqlite);
    const ledger = createLedger({ sqlite: db.sqlite });
    db.sqlite.transaction(() => {
      for (let i = 0; i < n; i++) {
        ledger.transfer({ id: randomUUID(), orgId, kind: 'USAGE_MESSAGE', amountMicro }, { force: true });
      }
    })();
  });
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

describe('kill -9 mid-push', () => {
  it('the desktop engine dies after the server stored a batch: the restart pushes the rest, nothing twice', async () => {
    const server = await startTestLedger(undefined);
    cleanups.push(() => server.close());
    const admin = client(server.url);
    const org = await admin.createOrg('Crash desk');
    const { token } = await admin.issueDevice(org.id);
    await admin.topUp(org.id, 100 * C);

    // The desktop's org made with the server's id, as an operator links a desktop.
    const seeded = spawnSync(
      process.execPath,
      [BIN, 'seed', '--org', 'Crash desk', '--org-id', org.id, '--plan', 'free', '--json'],
      { env: { ...process.env, AGENCIA_DATA_DIR: dir, LOG_LEVEL: 'silent' }, encoding: 'utf8' },
    );
    expect(seeded.status, seeded.stderr).toBe(0);
    expect(JSON.parse(seeded.stdout)).toMatchObject({ orgId: org.id });
    const file = join(dir, 'engine.db');
    writeUsage(file, org.id, 2500, 10_000);

    let pushes = 0;
    // Started below, once the proxy it talks through exists.
    const first: { run?: ReturnType<typeof startUntil> } = {};
    const proxy: FlakyProxy = await startFlakyProxy({
      target: server.url,
      // Pushes: the link (empty), batch 1, batch 2 <- the server stored it; the desktop dies unanswered.
      afterForward: async ({ path }) => {
        if (!path.startsWith('/v1/sync/push') || ++pushes !== 3) return;
        first.run!.child.kill('SIGKILL');
        await first.run!.exited;
      },
    });
    cleanups.push(() => proxy.close());
    const env = {
      ...process.env,
      AGENCIA_DATA_DIR: dir,
      LOG_LEVEL: 'silent',
      LEDGER_URL: proxy.url,
      LEDGER_TOKEN: token,
      LEDGER_SYNC_INTERVAL_S: '1',
    };
    const engine = (first.run = startUntil([BIN, 'start', '--port', '0'], READY, env));
    await engine.ready;
    await engine.exited;
    expect(pushes).toBe(3);
    // Batch 1 was settled locally; batch 2 is on the server but still in the outbox.
    expect((await serverUsageIds(server, org.id)).size).toBe(2000);
    expect(withDatabase(file, (db) => outboxSize(db.sqlite))).toBe(1500);

    const restarted = startUntil([BIN, 'start', '--port', '0'], READY, env);
    cleanups.push(async () => {
      restarted.child.kill('SIGTERM');
      await restarted.exited;
    });
    await restarted.ready;
    await until('the outbox to drain and a sync to complete', () =>
      withDatabase(file, (db) => {
        const s = db.sqlite.prepare(`SELECT last_sync_at FROM ledger_sync_state`).get() as {
          last_sync_at: number | null;
        };
        return outboxSize(db.sqlite) === 0 && s.last_sync_at !== null;
      }),
    );

    const local = withDatabase(file, (db) => localUsageIds(db.sqlite, org.id));
    const onServer = await serverUsageIds(server, org.id);
    expect([...onServer.keys()].sort()).toEqual([...local].sort());
    expect([...onServer.values()].every((n) => n === 1)).toBe(true);
    const auth = await authorityOf(server, org.id);
    expect(auth.balanceMicro).toBe(100 * C - 2500 * 10_000);
    withDatabase(file, (db) => {
      expect(createLedger({ sqlite: db.sqlite }).balance(org.id).postedMicro).toBe(auth.balanceMicro);
      expect(createLedger({ sqlite: db.sqlite }).verify().ok).toBe(true);
    });
    expect((await server.verify()).ok).toBe(true);
  });

  it('the server dies while it commits a batch: after its restart every entry is there once', async () => {
    const port = await freePort();
    const serverEnv = {
      ...process.env,
      LEDGER_PORT: String(port),
      LEDGER_ADMIN_TOKEN: ADMIN_TOKEN,
      LEDGER_DATA_DIR: join(dir, 'ledger'),
      LEDGER_BILLING_INTERVAL_S: '0',
      LOG_LEVEL: 'silent',
    };
    const startServer = () => {
      const s = startUntil(
        ['--import', 'tsx', join(ROOT, 'src-ledger', 'main.ts')],
        /ledger listening on (\S+)/,
        serverEnv,
      );
      cleanups.push(async () => {
        s.child.kill('SIGKILL');
        await s.exited;
      });
      return s;
    };
    let srv = startServer();
    const url = (await srv.ready)[1]!;
    const admin = client(url);
    const org = await admin.createOrg('Crash server');
    const { token } = await admin.issueDevice(org.id);
    await admin.topUp(org.id, 50 * C);

    let pushes = 0;
    const proxy = await startFlakyProxy({
      target: url,
      // The second batch: killed a moment after it reached the server, while it writes 1,000 entries.
      onForward: ({ path }) => {
        if (path.startsWith('/v1/sync/push') && ++pushes === 3)
          setTimeout(() => srv.child.kill('SIGKILL'), 15);
      },
    });
    cleanups.push(() => proxy.close());
    const desk = testDesktop({ url: proxy.url, token, retry: { attempts: 3, baseMs: 10, maxMs: 50 } });
    cleanups.push(() => desk.dispose());
    createOrganization(desk, { id: org.id, name: 'Crash server', planId: 'free' });
    desk.use(org.id, 3000, 5_000);

    await expect(desk.sync.run()).rejects.toThrow(/hosted ledger/);
    await srv.exited;
    expect(outboxSize(desk.sqlite)).toBeGreaterThanOrEqual(2000);

    srv = startServer();
    await srv.ready;
    const before = await admin.call<Statement>('GET', `/v1/orgs/${org.id}/statement`, ADMIN_TOKEN);
    // 1,000 or 2,000: whether the kill came before or after the commit, both must end the same.
    console.log(
      `server killed mid-push: ${before.body.transfers.filter((t) => t.source === 'device').length} entries had committed`,
    );
    expect(await desk.sync.run()).toMatchObject({ ok: true });
    expect(outboxSize(desk.sqlite)).toBe(0);

    const statement = await admin.call<Statement>('GET', `/v1/orgs/${org.id}/statement`, ADMIN_TOKEN);
    const deviceIds = statement.body.transfers.filter((t) => t.source === 'device').map((t) => t.id);
    expect(deviceIds).toHaveLength(3000);
    expect(new Set(deviceIds).size).toBe(3000);
    expect(deviceIds.sort()).toEqual(localUsageIds(desk.sqlite, org.id).sort());
    const auth = (await admin.admin<{ balanceMicro: number }>('GET', `/v1/admin/orgs/${org.id}/authority`))
      .body;
    expect(auth.balanceMicro).toBe(50 * C - 3000 * 5_000);
    expect(desk.ledger.balance(org.id).postedMicro).toBe(auth.balanceMicro);
    expect(desk.ledger.verify().ok).toBe(true);
    expect((await admin.admin<{ ok: boolean }>('GET', '/v1/admin/verify')).body.ok).toBe(true);
  });
});
