// Kill -9 between "reserve" and "enqueue": on restart every hold is attached to a queued job (or
// released), never stranded. On BullMQ that gap is real (SQLite commit, then Redis), bridged by the
// job outbox; on the embedded queue both commit in one transaction.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { withDatabase, type DatabaseHandle } from '../src-engine/db/connection.ts';
import { createLogger } from '../src-engine/logger.ts';
import { createBullmqQueue } from '../src-engine/queue/bullmq.ts';
import { postApi, startUntil, until } from './support/process.ts';
import { startRedis, type TestRedis } from './support/redis.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'agencia-desk-engine.js');
const READY = /listening on (http:\/\/127\.0\.0\.1:\d+)/;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agencia-crash-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const env = (redisUrl = '') => ({
  ...process.env,
  AGENCIA_DATA_DIR: dir,
  REDIS_URL: redisUrl,
  LOG_LEVEL: 'silent',
});

/** An org on the Free plan where every message costs credit (so each send holds some). */
function seedPayingOrg(): { orgId: string; apiKey: string } {
  const r = spawnSync(
    process.execPath,
    [BIN, 'seed', '--org', 'Crash', '--plan', 'free', '--credits', '100', '--json'],
    {
      env: env(),
      encoding: 'utf8',
    },
  );
  expect(r.status, r.stderr).toBe(0);
  withDb((db) => db.sqlite.exec(`UPDATE plans SET messages_included = 0, rate_limit_per_min = 1000000`));
  return JSON.parse(r.stdout) as { orgId: string; apiKey: string };
}

const withDb = <T>(fn: (db: DatabaseHandle) => T): T => withDatabase(join(dir, 'engine.db'), fn);

const rows = <T>(sql: string) => withDb((db) => db.sqlite.prepare(sql).all() as T[]);

const sendBody = (i: number) => ({
  instanceId: 'auto',
  to: `52155${String(i).padStart(8, '0')}`,
  text: `Hola ${i}`,
});

describe('kill -9 between reserve and enqueue', () => {
  let redis: TestRedis | undefined;
  afterEach(async () => {
    await redis?.stop();
    redis = undefined;
  });

  it('BullMQ: holds committed while Redis was down are attached to their jobs after a restart', async () => {
    redis = await startRedis();
    const { port, url } = redis;
    const org = seedPayingOrg();
    const first = startUntil([BIN, 'start', '--port', '0'], READY, env(url));
    const base = (await first.ready)[1]!;
    expect(
      (await postApi(base, org.apiKey, '/whatsapp/instances', { name: 'n1', evolutionInstance: 'e1' }))
        .status,
    ).toBe(201);

    // Redis goes away: the guard still commits (message, hold, outbox row) but cannot hand jobs over.
    await redis.stop();
    redis = undefined;
    const N = 12;
    const inFlight = Array.from({ length: N }, (_, i) =>
      postApi(base, org.apiKey, '/whatsapp/send', sendBody(i)).catch(() => null),
    );
    await until(
      'every send to be committed to the outbox',
      () => rows(`SELECT job_id FROM job_outbox`).length === N,
    );
    // The answers do not wait for Redis: each job is durable in the outbox already.
    const answers = await Promise.all(inFlight);
    expect(answers.map((a) => a?.status)).toEqual(Array.from({ length: N }, () => 202));
    first.child.kill('SIGKILL');
    await first.exited;

    const pending = rows<{ id: string; job_id: string }>(
      `SELECT id, job_id FROM reservations WHERE state = 'pending'`,
    );
    expect(pending).toHaveLength(N);

    // The next start does not wait for Redis (still down): the outbox follows once it is back.
    const second = startUntil([BIN, 'start', '--port', '0'], READY, env(url));
    await second.ready;
    try {
      expect(rows(`SELECT job_id FROM job_outbox`)).toHaveLength(N);
      redis = await startRedis({ port });
      await until('the outbox handed to Redis', () => rows(`SELECT job_id FROM job_outbox`).length === 0);
      const queue = createBullmqQueue({ url, log: createLogger('engine', { level: 'silent' }) });
      try {
        const messages = rows<{ id: string; reservation_id: string; org_id: string }>(
          `SELECT id, reservation_id, org_id FROM sent_messages`,
        );
        expect(messages).toHaveLength(N);
        for (const m of messages) {
          const job = await queue.getJob('whatsapp.send', m.id);
          expect(job, `job of message ${m.id}`).toMatchObject({ data: { orgId: m.org_id, messageId: m.id } });
          expect(pending).toContainEqual({ id: m.reservation_id, job_id: m.id });
        }
      } finally {
        await queue.close(0);
      }
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });

  it('embedded queue: a kill -9 under load leaves no hold without its job and no job without its hold', async () => {
    const org = seedPayingOrg();
    const run = startUntil([BIN, 'start', '--port', '0'], READY, env());
    const base = (await run.ready)[1]!;
    await postApi(base, org.apiKey, '/whatsapp/instances', { name: 'n1', evolutionInstance: 'e1' });
    let accepted = 0;
    const load = (async () => {
      for (let i = 0; ; i += 8) {
        const batch = await Promise.all(
          Array.from({ length: 8 }, (_, k) =>
            postApi(base, org.apiKey, '/whatsapp/send', sendBody(i + k)).catch(() => null),
          ),
        );
        accepted += batch.filter((r) => r?.status === 202).length;
        if (batch.some((r) => r === null)) return;
      }
    })();
    await until('some sends to be accepted', () => accepted >= 40);
    run.child.kill('SIGKILL');
    await run.exited;
    await load;

    const restarted = startUntil([BIN, 'start', '--port', '0'], READY, env());
    await restarted.ready;
    restarted.child.kill('SIGTERM');
    await restarted.exited;
    const orphans = rows(
      `SELECT r.id FROM reservations r LEFT JOIN job_keys k ON k.queue = 'whatsapp.send' AND k.key = r.job_id
       WHERE r.state = 'pending' AND k.key IS NULL`,
    );
    const unheld = rows(
      `SELECT m.id FROM sent_messages m LEFT JOIN reservations r ON r.id = m.reservation_id
       LEFT JOIN job_keys k ON k.queue = 'whatsapp.send' AND k.key = m.id
       WHERE r.id IS NULL OR k.key IS NULL`,
    );
    expect(orphans).toEqual([]);
    expect(unheld).toEqual([]);
    expect(rows(`SELECT id FROM sent_messages`).length).toBeGreaterThanOrEqual(accepted);
  });
});
