// One send through everything, with the real engine process: guard -> queue -> SmartSend -> the
// Evolution simulator over real HTTP -> webhook acks -> ledger capture -> compliance alert; then the
// failure paths: a number not on WhatsApp, three 5xx answers, and a ban while messages wait.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDatabase, type DatabaseHandle } from '../src-engine/db/connection.ts';
import { WEBHOOK_SECRET_HEADER } from '../src-engine/gateways/evolution/index.ts';
import { startUntil } from './support/process.ts';
import { startEvolutionSim, type EvolutionSim } from './sim/evolution/index.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'agencia-desk-engine.js');
const READY = /listening on (http:\/\/127\.0\.0\.1:\d+)/;
const SECRET = 'e2e-webhook-secret-0123456789';

let dir: string;
let sim: EvolutionSim;
let run: ReturnType<typeof startUntil>;
let base: string;

const env = () => ({
  ...process.env,
  AGENCIA_DATA_DIR: dir,
  REDIS_URL: '',
  LOG_LEVEL: 'silent',
  EVOLUTION_URL: sim.url,
  EVOLUTION_API_KEY: sim.apiKey,
  EVOLUTION_WEBHOOK_SECRET: SECRET,
  // Human pacing takes seconds to minutes; these keep the test to seconds.
  SMARTSEND_JITTER_MS: '10-20',
  SMARTSEND_BURST_PAUSE_MS: '50-80',
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agencia-smartsend-'));
  sim = await startEvolutionSim({ instances: ['free-1', 'ban-a', 'ban-b'] });
  run = startUntil([BIN, 'start', '--port', '0'], READY, env());
  base = (await run.ready)[1]!;
  sim.setWebhook({ url: `${base}/webhooks/evolution`, headers: { [WEBHOOK_SECRET_HEADER]: SECRET } });
});

afterAll(async () => {
  run?.child.kill('SIGTERM');
  await run?.exited;
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

const withDb = <T>(fn: (db: DatabaseHandle) => T): T => withDatabase(join(dir, 'engine.db'), fn);
const sql = (text: string, ...params: unknown[]) => withDb((db) => db.sqlite.prepare(text).run(...params));
const rows = <T>(text: string, ...params: unknown[]) =>
  withDb((db) => db.sqlite.prepare(text).all(...params) as T[]);

/** The operator CLI (on the running engine's database); its `--json` output. */
function cli<T>(...args: string[]): T {
  const r = spawnSync(process.execPath, [BIN, ...args, '--json'], { env: env(), encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
}
const seed = (name: string, plan: string, credits: string) =>
  cli<{ orgId: string; apiKey: string }>('seed', '--org', name, '--plan', plan, '--credits', credits);

async function api<T = Record<string, unknown>>(key: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: (await res.json()) as T };
}

async function until<T>(what: string, get: () => T | Promise<T>, ok: (v: T) => boolean, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const send = async (key: string, to: string, text: string) => {
  const r = await api<{ messageId: string }>(key, 'POST', '/whatsapp/send', { instanceId: 'auto', to, text });
  expect(r.status).toBe(202);
  return r.body.messageId;
};
const message = async (key: string, id: string) =>
  (
    await api<{
      status: string;
      evolutionMessageId: string | null;
      error: string | null;
      instanceId: string;
    }>(key, 'GET', `/whatsapp/messages/${id}`)
  ).body;
const statusIs = (key: string, id: string, status: string) =>
  until(
    `message ${id} ${status}`,
    () => message(key, id),
    (m) => m.status === status,
  );
const holdOf = (id: string) =>
  rows<{ state: string }>(
    `SELECT r.state FROM reservations r JOIN sent_messages m ON m.reservation_id = r.id WHERE m.id = ?`,
    id,
  )[0]?.state;

describe('SmartSend end to end (engine process + Evolution simulator)', () => {
  let free: { orgId: string; apiKey: string };

  it('sends through the simulator, gets the acks, captures the charge and raises the quota alert', async () => {
    free = seed('Free e2e', 'free', '10');
    // One message included: the first is free and crosses every threshold, the second is charged.
    sql(`UPDATE plans SET messages_included = 1 WHERE id = 'free'`);
    const added = await api(free.apiKey, 'POST', '/whatsapp/instances', {
      name: 'main',
      evolutionInstance: 'free-1',
    });
    expect(added.status).toBe(201);

    const first = await send(free.apiKey, '5215512340001', 'Hola, su pedido está listo');
    const second = await send(free.apiKey, '5215512340002', 'Hola otra vez');
    const done = await Promise.all([
      statusIs(free.apiKey, first, 'delivered'),
      statusIs(free.apiKey, second, 'delivered'),
    ]);

    const sends = sim.sends.filter((s) => s.instance === 'free-1');
    expect(sends.map((s) => s.number).sort()).toEqual(['5215512340001', '5215512340002']);
    for (const s of sends) expect(s.delay).toBe(10); // composing, capped by the smallest gap
    expect(done.map((m) => m.evolutionMessageId).sort()).toEqual(sends.map((s) => s.id).sort());

    const balance = await api<{
      postedMicro: number;
      pendingMicro: number;
      quota: { messages: { used: number } };
    }>(free.apiKey, 'GET', '/billing/balance');
    expect(balance.body).toMatchObject({ postedMicro: 9_950_000, pendingMicro: 0 });
    expect(balance.body.quota.messages.used).toBe(2);
    expect(holdOf(second)).toBe('posted');

    const alerts = await api<{ items: { kind: string; threshold: number }[] }>(
      free.apiKey,
      'GET',
      '/compliance/alerts',
    );
    expect(
      alerts.body.items
        .filter((a) => a.kind === 'quota')
        .map((a) => a.threshold)
        .sort(),
    ).toEqual([70, 85, 95]);
  });

  it('answers 401 to a webhook without the secret and 400 to one it cannot read', async () => {
    const post = (headers: Record<string, string>, body: unknown) =>
      fetch(`${base}/webhooks/evolution`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    const bad = await post(
      { [WEBHOOK_SECRET_HEADER]: 'wrong-secret-0123456789' },
      { event: 'x', instance: 'y' },
    );
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ error: 'UNAUTHORIZED' });
    const invalid = await post(
      { [WEBHOOK_SECRET_HEADER]: SECRET },
      { event: 'messages.update', instance: 'free-1', data: {} },
    );
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ error: 'VALIDATION_ERROR' });
    const unknown = await post(
      { [WEBHOOK_SECRET_HEADER]: SECRET },
      { event: 'chats.set', instance: 'free-1', data: [] },
    );
    expect(unknown.status).toBe(200);
  });

  it('dead-letters a number not on WhatsApp at once, with the reason, and releases its hold', async () => {
    sim.addNotOnWhatsApp('5215599990000');
    const id = await send(free.apiKey, '5215599990000', 'Hola');
    const m = await statusIs(free.apiKey, id, 'failed');
    expect(m.error).toContain('5215599990000 has no WhatsApp account');
    const dlq = await api<{ items: { jobId: string; error: string; attempts: number }[] }>(
      free.apiKey,
      'GET',
      '/dlq',
    );
    expect(dlq.body.items.find((d) => d.jobId === id)).toMatchObject({ attempts: 1, error: m.error });
    expect(holdOf(id)).toBe('voided');
  });

  it('retries 5xx answers and dead-letters the message after the third, releasing its hold', async () => {
    sim.scriptSends('free-1', { type: 'server' }, 3);
    const id = await send(free.apiKey, '5215512340003', 'Tres intentos');
    const m = await statusIs(free.apiKey, id, 'failed');
    expect(m.error).toMatch(/server \(HTTP 500\)/);
    const dlq = await api<{ items: { jobId: string; attempts: number }[] }>(free.apiKey, 'GET', '/dlq');
    expect(dlq.body.items.find((d) => d.jobId === id)).toMatchObject({ attempts: 3 });
    expect(holdOf(id)).toBe('voided');
    expect(sim.sends.some((s) => s.number === '5215512340003')).toBe(false);
    const balance = await api<{ postedMicro: number; pendingMicro: number }>(
      free.apiKey,
      'GET',
      '/billing/balance',
    );
    expect(balance.body).toMatchObject({ postedMicro: 9_950_000, pendingMicro: 0 });
  });

  it("moves the waiting auto messages of a number banned mid-queue to the org's other number", async () => {
    const org = seed('Partner e2e', 'partner', '1');
    const a = await api<{ id: string }>(org.apiKey, 'POST', '/whatsapp/instances', {
      name: 'a',
      evolutionInstance: 'ban-a',
    });
    // One message a day: the first goes out, the others wait for tomorrow on this number.
    sql(`UPDATE whatsapp_instances SET daily_cap = 1 WHERE id = ?`, a.body.id);
    const ids = [
      await send(org.apiKey, '5215577770001', 'uno'),
      await send(org.apiKey, '5215577770002', 'dos'),
      await send(org.apiKey, '5215577770003', 'tres'),
    ];
    await statusIs(org.apiKey, ids[0]!, 'delivered');
    await until(
      'the others to wait on number a',
      () =>
        rows<{ message_id: string }>(
          `SELECT message_id FROM smartsend_reservations WHERE instance_id = ?`,
          a.body.id,
        ),
      (r) => r.length === 2,
    );
    // An operator adds a number that is already warm: ACTIVE at once, as the API adds it.
    const b = cli<{ id: string; health: string }>(
      'instances',
      'add',
      '--org',
      org.orgId,
      '--name',
      'b',
      '--evolution-instance',
      'ban-b',
      '--warmup-day',
      '30',
    );
    expect(b.health).toBe('ACTIVE');

    sim.ban('ban-a', 401);
    const moved = await Promise.all(ids.slice(1).map((id) => statusIs(org.apiKey, id, 'delivered')));
    expect(moved.map((m) => m.instanceId)).toEqual([b.id, b.id]);
    expect(
      sim.sends
        .filter((s) => s.instance === 'ban-b')
        .map((s) => s.text)
        .sort(),
    ).toEqual(['dos', 'tres']);
    expect(sim.sends.filter((s) => s.instance === 'ban-a').map((s) => s.text)).toEqual(['uno']);

    const instances = cli<{ id: string; health: string; healthReason: string }[]>(
      'instances',
      'list',
      '--org',
      org.orgId,
    );
    expect(instances.map((i) => i.id)).toEqual([a.body.id, b.id]);
    expect(instances.find((i) => i.id === a.body.id)).toMatchObject({
      health: 'BANNED',
      healthReason: 'connection closed with 401',
    });
    const alerts = await api<{ items: { kind: string; cycle: string }[] }>(
      org.apiKey,
      'GET',
      '/compliance/alerts',
    );
    expect(alerts.body.items).toContainEqual(
      expect.objectContaining({ kind: 'instance_banned', cycle: a.body.id }),
    );
  });
});
