// Kill -9 while the guard is committing batches of concurrent sends (group commit): every 202 that
// was answered survives (after the restart that replays the guard's journal) with its job and its hold, and nothing is half-written (a message without its
// job or hold, a hold without its message, a counter that disagrees, a ledger that does not verify).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { withDatabase, type DatabaseHandle } from '../src-engine/db/connection.ts';
import { createLedger } from '../src-engine/ledger/ledger.ts';
import { postApi, startUntil } from './support/process.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'agencia-desk-engine.js');
const READY = /listening on (http:\/\/127\.0\.0\.1:\d+)/;
/** Requests in flight at once: they reach the engine together, so it commits them in batches. */
const WIDTH = 32;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agencia-batch-crash-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const env = () => ({ ...process.env, AGENCIA_DATA_DIR: dir, REDIS_URL: '', LOG_LEVEL: 'silent' });

const withDb = <T>(fn: (db: DatabaseHandle) => T): T => withDatabase(join(dir, 'engine.db'), fn);

it('kill -9 during group commits: every answered 202 survives with its job and hold; nothing is half-written', async () => {
  const seeded = spawnSync(
    process.execPath,
    [BIN, 'seed', '--org', 'Batch', '--plan', 'free', '--credits', '1000', '--json'],
    { env: env(), encoding: 'utf8' },
  );
  expect(seeded.status, seeded.stderr).toBe(0);
  const org = JSON.parse(seeded.stdout) as { orgId: string; apiKey: string };
  // Every message costs credit, so every accepted send also holds some.
  withDb((db) => db.sqlite.exec(`UPDATE plans SET messages_included = 0, rate_limit_per_min = 1000000`));

  const run = startUntil([BIN, 'start', '--port', '0'], READY, env());
  const base = (await run.ready)[1]!;
  await postApi(base, org.apiKey, '/whatsapp/instances', { name: 'n1', evolutionInstance: 'e1' });

  const answered: string[] = [];
  let stop = false;
  const load = async (lane: number) => {
    for (let i = 0; !stop; i++) {
      const res = await postApi(base, org.apiKey, '/whatsapp/send', {
        instanceId: 'auto',
        to: `52155${String(lane * 100_000 + i).padStart(8, '0')}`,
        text: `Hola ${lane}/${i}`,
      }).catch(() => null);
      if (res === null) return;
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      answered.push(res.body.messageId as string);
    }
  };
  const lanes = Promise.all(Array.from({ length: WIDTH }, (_, lane) => load(lane)));
  const deadline = Date.now() + 20_000;
  while (answered.length < 300 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  run.child.kill('SIGKILL');
  await run.exited;
  stop = true;
  await lanes;
  expect(answered.length).toBeGreaterThanOrEqual(300);
  // The next start replays what the guard's journal held (answered, not yet committed).
  const restarted = startUntil([BIN, 'start', '--port', '0'], READY, env());
  await restarted.ready;
  restarted.child.kill('SIGTERM');
  await restarted.exited;

  withDb((db) => {
    const ids = (sql: string) => db.sqlite.prepare(sql).pluck().all() as string[];
    const stored = new Set(ids(`SELECT id FROM sent_messages`));
    expect(answered.filter((id) => !stored.has(id))).toEqual([]);
    // Each message has its job and its pending hold; each pending hold has its message.
    expect(
      ids(`SELECT m.id FROM sent_messages m
           LEFT JOIN jobs j ON j.queue = 'whatsapp.send' AND j.job_key = m.id
           LEFT JOIN reservations r ON r.id = m.reservation_id AND r.state = 'pending' AND r.job_id = m.id
           WHERE j.seq IS NULL OR r.id IS NULL`),
    ).toEqual([]);
    expect(
      ids(`SELECT r.id FROM reservations r LEFT JOIN sent_messages m ON m.reservation_id = r.id
           WHERE m.id IS NULL`),
    ).toEqual([]);
    expect(ids(`SELECT key FROM job_keys WHERE key NOT IN (SELECT id FROM sent_messages)`)).toEqual([]);
    const held = db.sqlite
      .prepare(`SELECT coalesce(sum(messages_held), 0) FROM usage_counters WHERE org_id = ?`)
      .pluck()
      .get(org.orgId);
    expect(held).toBe(stored.size);
    expect(createLedger({ sqlite: db.sqlite }).verify().ok).toBe(true);
  });
});
