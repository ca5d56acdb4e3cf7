import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  listenApi,
  startTestEngine,
  type TestApi,
  type TestEngine,
  type TestOrg,
} from '../../test/support/test-engine.ts';
import { until } from '../../test/support/process.ts';
import { startKokoroSim } from '../../test/sim/kokoro/index.ts';
import { startOllamaSim } from '../../test/sim/ollama/index.ts';
import { ErrorBodySchema, type ErrorCode } from '../contracts/errors.ts';
import { LedgerEventSchema, type EngineEvent } from '../contracts/events.ts';
import { OPERATIONS, type OperationName } from '../contracts/operations.ts';
import { UnrecoverableError } from '../queue/errors.ts';
import { BODY_LIMIT } from './server.ts';

let t: TestEngine;
let api: TestApi;
beforeAll(async () => {
  t = await startTestEngine();
  api = await listenApi(t.engine);
});
afterAll(async () => {
  await api?.close();
  await t?.dispose();
});

interface Call {
  key?: string;
  /** Sent as JSON unless a string (sent as is). */
  body?: unknown;
  headers?: Record<string, string>;
  base?: string;
}
interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

async function call(method: 'GET' | 'POST', path: string, c: Call = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...c.headers };
  if (c.key !== undefined) headers.authorization = `Bearer ${c.key}`;
  let body: string | undefined;
  if (c.body !== undefined) {
    body = typeof c.body === 'string' ? c.body : JSON.stringify(c.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(`${c.base ?? api.base}/api/v1${path}`, { method, headers, body });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Operations seen succeeding over HTTP, so a new one cannot go untested. */
const answered = new Set<OperationName>();

/** The answer of a successful call to `name`, checked against its status and output schema. */
function ok<N extends OperationName>(name: N, a: Answer) {
  expect(a.status, a.text).toBe(OPERATIONS[name].status);
  answered.add(name);
  return OPERATIONS[name].output.parse(a.json) as ReturnType<(typeof OPERATIONS)[N]['output']['parse']>;
}

/** An error answer in the shared shape, with no stack trace or source path anywhere in it. */
function failed(a: Answer, status: number, code: ErrorCode) {
  expect(a.status, a.text).toBe(status);
  expect(a.headers.get('content-type')).toMatch(/^application\/json/);
  expect(a.text).not.toMatch(/"stack"|(\\n|\n)\s+at |\.(ts|js):\d+:\d+|node_modules|FST_ERR/);
  const body = ErrorBodySchema.parse(a.json);
  expect(body.error).toBe(code);
  return body;
}

const sendBody = (extra: Record<string, unknown> = {}) => ({
  instanceId: 'auto',
  to: '5215512345678',
  text: 'Hola',
  ...extra,
});

/** The next engine event that passes `match`. */
function nextEvent(match: (e: EngineEvent) => boolean): Promise<EngineEvent> {
  return new Promise((resolve) => {
    const off = t.engine.events.on((e) => {
      if (match(e)) {
        off();
        resolve(e);
      }
    });
  });
}

describe('every route over HTTP answers its success status with its output schema', () => {
  let org: TestOrg;
  beforeAll(async () => {
    org = await t.org({ plan: 'starter', credits: '5' });
  });

  it('POST /whatsapp/send -> 202 queued; GET /whatsapp/messages/:id', async () => {
    const sent = ok(
      'whatsapp:send',
      await call('POST', '/whatsapp/send', { key: org.apiKey, body: sendBody() }),
    );
    expect(sent).toEqual({ jobId: sent.messageId, messageId: sent.messageId, status: 'queued' });
    const msg = ok(
      'whatsapp:message',
      await call('GET', `/whatsapp/messages/${sent.messageId}`, { key: org.apiKey }),
    );
    expect(msg).toMatchObject({
      id: sent.messageId,
      orgId: org.orgId,
      to: '5215512345678',
      status: 'queued',
    });
  });

  it('GET and POST /whatsapp/instances (201 for a new one)', async () => {
    const partner = await t.org({ plan: 'partner', instances: 1 });
    const added = ok(
      'whatsapp:addInstance',
      await call('POST', '/whatsapp/instances', {
        key: partner.apiKey,
        body: { name: 'ventas', evolutionInstance: 'evo-ventas', warmupDay: 3 },
      }),
    );
    expect(added).toMatchObject({ orgId: partner.orgId, name: 'ventas', health: 'WARMUP' });
    const list = ok('whatsapp:instances', await call('GET', '/whatsapp/instances', { key: partner.apiKey }));
    expect(list.items.map((i) => i.id)).toEqual([...partner.instanceIds, added.id]);
  });

  it('starts a number where SmartSend counts: local warm-up days, ACTIVE at once past the schedule', async () => {
    const zone = 'America/Mexico_City';
    const partner = await t.org({ plan: 'partner', instances: 0 });
    t.engine.db.sqlite.prepare(`UPDATE organizations SET timezone = ? WHERE id = ?`).run(zone, partner.orgId);
    const add = async (name: string, warmupDay: number) =>
      ok(
        'whatsapp:addInstance',
        await call('POST', '/whatsapp/instances', {
          key: partner.apiKey,
          body: { name, evolutionInstance: `evo-${name}`, warmupDay },
        }),
      );
    // Default steps: 2 days at 50, 3 at 200, 5 at 500; then the configured daily cap (1000).
    const warming = await add('warming', 3);
    const warm = await add('warm', 11);
    expect(warming).toMatchObject({ health: 'WARMUP', healthReason: 'new instance' });
    expect(warm).toMatchObject({ health: 'ACTIVE', healthReason: 'added past the warm-up' });
    // Day 1 began at local midnight two days ago, not 48 hours before now.
    const localTime = new Intl.DateTimeFormat('en-GB', {
      timeZone: zone,
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    }).format(warming.warmupStartedAt!);
    expect(localTime).toBe('00:00');
    expect(Date.now() - warming.warmupStartedAt!).toBeGreaterThanOrEqual(2 * 86_400_000);
    expect(Date.now() - warming.warmupStartedAt!).toBeLessThan(3 * 86_400_000);
    const list = ok('whatsapp:instances', await call('GET', '/whatsapp/instances', { key: partner.apiKey }));
    const byName = new Map(list.items.map((i) => [i.name, i]));
    expect(byName.get('warming')).toMatchObject({ warmupDay: 3, capToday: 200, sentToday: 0 });
    expect(byName.get('warm')).toMatchObject({ warmupDay: null, capToday: 1000, sentToday: 0 });
  });

  it('POST /agents/run -> 202 {runId}; GET /agents/runs/:id', async () => {
    const { runId } = ok(
      'agents:run',
      await call('POST', '/agents/run', { key: org.apiKey, body: { prompt: 'Hola' } }),
    );
    const run = ok('agents:get', await call('GET', `/agents/runs/${runId}`, { key: org.apiKey }));
    expect(run).toMatchObject({ id: runId, status: 'queued', prompt: 'Hola', maxSteps: 10 });
  });

  it('GET /agents/runs, GET /agents/runs/:id/logs with a query, POST /agents/runs/:id/cancel (202)', async () => {
    const { runId } = ok(
      'agents:run',
      await call('POST', '/agents/run', { key: org.apiKey, body: { prompt: 'Adiós' } }),
    );
    const list = ok('agents:list', await call('GET', '/agents/runs?limit=1', { key: org.apiKey }));
    expect(list.items.map((r) => r.id)).toEqual([runId]);
    expect(list.nextCursor).not.toBeNull();
    const logs = ok(
      'agents:logs',
      await call('GET', `/agents/runs/${runId}/logs?afterSeq=0&limit=10`, { key: org.apiKey }),
    );
    expect(logs).toEqual({ items: [], nextSeq: null });
    // The query string reaches the schema: a bad value is a 400, not silently dropped.
    const bad = await call('GET', `/agents/runs/${runId}/logs?limit=0`, { key: org.apiKey });
    expect(bad.status).toBe(400);
    const cancelled = ok(
      'agents:cancel',
      await call('POST', `/agents/runs/${runId}/cancel`, { key: org.apiKey }),
    );
    expect(cancelled).toMatchObject({ id: runId, status: 'cancelled' });
  });

  it('GET /billing/balance and /billing/transactions with a cursor and a limit', async () => {
    const balance = ok('billing:balance', await call('GET', '/billing/balance', { key: org.apiKey }));
    expect(balance).toMatchObject({ orgId: org.orgId, postedMicro: 5_000_000 });
    t.engine.ledger.transfer({ id: randomUUID(), orgId: org.orgId, kind: 'TOPUP', amountMicro: 1_000_000 });
    const p1 = ok(
      'billing:transactions',
      await call('GET', '/billing/transactions?limit=1', { key: org.apiKey }),
    );
    expect(p1.items).toHaveLength(1);
    const p2 = ok(
      'billing:transactions',
      await call('GET', `/billing/transactions?cursor=${p1.nextCursor}&limit=1`, { key: org.apiKey }),
    );
    expect(p2.items).toHaveLength(1);
    expect(p2.items[0]!.id).not.toBe(p1.items[0]!.id);
  });

  it('GET /billing/referrals without a hosted ledger: says so, and counts this cycle’s commissions', async () => {
    const other = await t.org({ plan: 'starter', instances: 0 });
    const paid = { orgId: other.orgId, kind: 'COMMISSION' as const, reference: 'referral commission' };
    t.engine.ledger.transfer({ ...paid, id: randomUUID(), amountMicro: 3_000_000 });
    t.engine.ledger.transfer({ ...paid, id: randomUUID(), amountMicro: 750_000 });
    const view = ok('billing:referrals', await call('GET', '/billing/referrals', { key: other.apiKey }));
    const { quota, commissions } = ok(
      'billing:balance',
      await call('GET', '/billing/balance', { key: other.apiKey }),
    );
    // The balance carries the same figure (the Panel reads it there, with no hosted-ledger round trip).
    expect(commissions).toEqual({ amountMicro: 3_750_000, count: 2 });
    expect(view).toEqual({
      source: 'unconfigured',
      report: null,
      fetchedAt: null,
      error: 'LEDGER_URL and LEDGER_TOKEN are not set',
      commissions: { cycle: quota.cycle, amountMicro: 3_750_000, count: 2 },
    });
    // Another org's commissions are not this one's.
    const mine = ok('billing:referrals', await call('GET', '/billing/referrals', { key: org.apiKey }));
    expect(mine.commissions).toMatchObject({ amountMicro: 0, count: 0 });
    const myBalance = ok('billing:balance', await call('GET', '/billing/balance', { key: org.apiKey }));
    expect(myBalance.commissions).toEqual({ amountMicro: 0, count: 0 });
  });

  it('GET /compliance/alerts', async () => {
    expect(ok('compliance:alerts', await call('GET', '/compliance/alerts', { key: org.apiKey }))).toEqual({
      items: [],
      nextCursor: null,
    });
  });

  it('GET /dlq, POST /dlq/:id/retry (202) and /dlq/:id/resolve', async () => {
    const dlqOrg = await t.org({ plan: 'starter' });
    const sent = ok(
      'whatsapp:send',
      await call('POST', '/whatsapp/send', { key: dlqOrg.apiKey, body: sendBody() }),
    );
    const dead = nextEvent((e) => e.type === 'job.dead' && e.jobId === sent.jobId);
    const worker = t.engine.queue.process('whatsapp.send', async () => {
      throw new UnrecoverableError('number not on WhatsApp');
    });
    const { deadLetterId } = (await dead) as { deadLetterId: string };
    await worker.close(0);

    const list = ok(
      'dlq:list',
      await call('GET', '/dlq?queue=whatsapp.send&resolved=false', { key: dlqOrg.apiKey }),
    );
    expect(list.items.map((d) => [d.id, d.jobId, d.error])).toEqual([
      [deadLetterId, sent.jobId, 'number not on WhatsApp'],
    ]);
    const retried = ok('dlq:retry', await call('POST', `/dlq/${deadLetterId}/retry`, { key: dlqOrg.apiKey }));
    expect(retried).toMatchObject({ queue: 'whatsapp.send', deduplicated: false });
    expect(await t.engine.queue.getJob('whatsapp.send', retried.id)).toMatchObject({ state: 'waiting' });
    const resolved = ok(
      'dlq:resolve',
      await call('POST', `/dlq/${deadLetterId}/resolve`, { key: dlqOrg.apiKey }),
    );
    expect(resolved).toMatchObject({ id: deadLetterId, resolved: true, retriedAs: [retried.id] });
    // Another org's dead letter is as good as missing.
    failed(await call('POST', `/dlq/${deadLetterId}/resolve`, { key: org.apiKey }), 404, 'NOT_FOUND');
  });

  it('GET and POST /branding', async () => {
    const partner = await t.org({ plan: 'partner' });
    expect(ok('branding:get', await call('GET', '/branding', { key: partner.apiKey }))).toEqual({
      branding: null,
      allowed: true,
    });
    const branding = { name: 'Agencia Sol', accentColor: '#ff8800' };
    expect(
      ok('branding:set', await call('POST', '/branding', { key: partner.apiKey, body: branding })),
    ).toEqual({
      ...branding,
      logo: null,
    });
    expect(ok('branding:get', await call('GET', '/branding', { key: partner.apiKey })).branding).toEqual({
      ...branding,
      logo: null,
    });
    // Setting it is a guarded command like the others: a key, in the header or the body, makes a
    // repeat answer the first result and the same key with another body a 409.
    const key = '2b0f7c5e-6f8a-4a51-9d4e-3f1f1c1d2e3f';
    const first = { name: 'Agencia Luna', accentColor: '#112233' };
    const withKey = (body: object, headers = {}) =>
      call('POST', '/branding', { key: partner.apiKey, body, headers });
    expect(ok('branding:set', await withKey(first, { 'idempotency-key': key }))).toEqual({
      ...first,
      logo: null,
    });
    expect(ok('branding:set', await withKey({ ...first, idempotencyKey: key }))).toEqual({
      ...first,
      logo: null,
    });
    failed(await withKey({ ...branding, idempotencyKey: key }), 409, 'CONFLICT');
    expect(ok('branding:get', await call('GET', '/branding', { key: partner.apiKey })).branding).toEqual({
      ...first,
      logo: null,
    });
  });

  it('GET /health is public', async () => {
    expect(ok('health:get', await call('GET', '/health')).status).toBe('ok');
  });

  it('GET /ai/models and /ai/voices answer 503 UNAVAILABLE in the shared shape when the service is down', async () => {
    for (const [path, service] of [
      ['/ai/models', 'ollama'],
      ['/ai/voices', 'kokoro'],
    ] as const) {
      const body = failed(await call('GET', path, { key: org.apiKey }), 503, 'UNAVAILABLE');
      expect(body.details).toMatchObject({ service, kind: 'network' });
    }
  });

  it('GET /ai/models and /ai/voices list what a running Ollama and Kokoro offer', async () => {
    const [ollama, kokoro] = [
      await startOllamaSim(),
      await startKokoroSim({ voices: ['ef_dora', 'am_adam'] }),
    ];
    const withAi = await startTestEngine({ OLLAMA_URL: ollama.url, KOKORO_URL: kokoro.url });
    const aiApi = await listenApi(withAi.engine);
    try {
      const o = await withAi.org();
      const { models } = ok(
        'ai:models',
        await call('GET', '/ai/models', { key: o.apiKey, base: aiApi.base }),
      );
      expect(models.map((m) => m.name)).toEqual(['llama3.2:latest', 'qwen2.5:7b']);
      const { voices } = ok(
        'ai:voices',
        await call('GET', '/ai/voices', { key: o.apiKey, base: aiApi.base }),
      );
      expect(voices.map((v) => v.id).sort()).toEqual(['am_adam', 'ef_dora']);
    } finally {
      await aiApi.close();
      await withAi.dispose();
      await Promise.all([ollama.close(), kokoro.close()]);
    }
  });
});

describe('errors over HTTP, in the shared shape', () => {
  let org: TestOrg;
  beforeAll(async () => {
    org = await t.org({ plan: 'starter' });
  });

  it('400 VALIDATION_ERROR with the issues', async () => {
    const body = failed(
      await call('POST', '/whatsapp/send', { key: org.apiKey, body: sendBody({ to: '12ab', extra: 1 }) }),
      400,
      'VALIDATION_ERROR',
    );
    expect(body.details).toMatchObject({
      issues: expect.arrayContaining([expect.objectContaining({ path: ['to'] })]),
    });
    const query = failed(
      await call('GET', '/billing/transactions?limit=0', { key: org.apiKey }),
      400,
      'VALIDATION_ERROR',
    );
    expect(query.details).toMatchObject({ issues: [expect.objectContaining({ path: ['limit'] })] });
  });

  it('401 without a key or with a bad one, as Bearer or X-Api-Key', async () => {
    const bad = `ad_AAAAAAAA_${'x'.repeat(40)}`;
    for (const headers of [
      {} as Record<string, string>,
      { authorization: `Bearer ${bad}` },
      { 'x-api-key': bad },
      { authorization: org.apiKey },
      { authorization: `Basic ${Buffer.from(`x:${org.apiKey}`).toString('base64')}` },
    ]) {
      failed(await call('GET', '/billing/balance', { headers }), 401, 'UNAUTHORIZED');
      failed(await call('POST', '/whatsapp/send', { headers, body: sendBody() }), 401, 'UNAUTHORIZED');
    }
    ok('billing:balance', await call('GET', '/billing/balance', { headers: { 'x-api-key': org.apiKey } }));
    ok(
      'billing:balance',
      await call('GET', '/billing/balance', { headers: { authorization: `Bearer ${org.apiKey}` } }),
    );
  });

  it('402 INSUFFICIENT_CREDITS with the balance', async () => {
    const free = await t.org({ plan: 'free' });
    ok('agents:run', await call('POST', '/agents/run', { key: free.apiKey, body: { prompt: 'uno' } }));
    const body = failed(
      await call('POST', '/agents/run', { key: free.apiKey, body: { prompt: 'dos' } }),
      402,
      'INSUFFICIENT_CREDITS',
    );
    expect(body.details).toMatchObject({ balance: 0 });
  });

  it('403 PLAN_LIMIT with the limit', async () => {
    const body = failed(
      await call('POST', '/whatsapp/instances', {
        key: org.apiKey,
        body: { name: 'dos', evolutionInstance: 'e2' },
      }),
      403,
      'PLAN_LIMIT',
    );
    expect(body.details).toEqual({ limit: 1, used: 1 });
    failed(
      await call('POST', '/branding', { key: org.apiKey, body: { name: 'X', accentColor: '#000000' } }),
      403,
      'PLAN_LIMIT',
    );
  });

  it('404 for an unknown route, an unknown message, an unknown run', async () => {
    failed(await call('GET', '/nope', { key: org.apiKey }), 404, 'NOT_FOUND');
    failed(await call('POST', '/whatsapp/messages', { key: org.apiKey, body: {} }), 404, 'NOT_FOUND');
    failed(await call('GET', `/whatsapp/messages/${randomUUID()}`, { key: org.apiKey }), 404, 'NOT_FOUND');
    failed(await call('GET', `/agents/runs/${randomUUID()}`, { key: org.apiKey }), 404, 'NOT_FOUND');
  });

  it('400 in the shared shape for a path the router cannot take: a bad %-escape, an over-long id', async () => {
    for (const path of [
      '/whatsapp/messages/%zz',
      '/agents/runs/%E0%A4%A',
      `/whatsapp/messages/${'x'.repeat(201)}`,
    ]) {
      const body = failed(await call('GET', path, { key: org.apiKey }), 400, 'VALIDATION_ERROR');
      expect(body.message).not.toContain('FST_');
    }
    failed(await call('POST', '/dlq/%zz/retry', { key: org.apiKey }), 400, 'VALIDATION_ERROR');
  });

  it('409 CONFLICT when an idempotency key comes back with another body, in the body or the header', async () => {
    const key = randomUUID();
    const first = ok(
      'whatsapp:send',
      await call('POST', '/whatsapp/send', { key: org.apiKey, body: sendBody({ idempotencyKey: key }) }),
    );
    // The header is the same key as the body field: a replay, not a new message.
    const replay = ok(
      'whatsapp:send',
      await call('POST', '/whatsapp/send', {
        key: org.apiKey,
        headers: { 'idempotency-key': key },
        body: sendBody(),
      }),
    );
    expect(replay).toEqual(first);
    const body = failed(
      await call('POST', '/whatsapp/send', {
        key: org.apiKey,
        headers: { 'idempotency-key': key },
        body: sendBody({ text: 'otro' }),
      }),
      409,
      'CONFLICT',
    );
    expect(body.details).toMatchObject({ idempotencyKey: key });
    failed(
      await call('POST', '/whatsapp/send', {
        key: org.apiKey,
        body: sendBody({ text: 'otro', idempotencyKey: key }),
      }),
      409,
      'CONFLICT',
    );
    failed(
      await call('POST', '/agents/run', {
        key: org.apiKey,
        headers: { 'idempotency-key': key },
        body: { prompt: 'x' },
      }),
      409,
      'CONFLICT',
    );
    failed(
      await call('POST', '/whatsapp/send', {
        key: org.apiKey,
        headers: { 'idempotency-key': 'nope' },
        body: sendBody(),
      }),
      400,
      'VALIDATION_ERROR',
    );
    // A header naming another key than the body's: which one was meant? Refused, nothing queued.
    const messages = () => t.engine.db.sqlite.prepare(`SELECT count(*) AS n FROM sent_messages`).get();
    const before = messages();
    const differ = failed(
      await call('POST', '/whatsapp/send', {
        key: org.apiKey,
        headers: { 'idempotency-key': randomUUID() },
        body: sendBody({ idempotencyKey: randomUUID() }),
      }),
      400,
      'VALIDATION_ERROR',
    );
    expect(differ.details).toMatchObject({ issues: [{ path: ['idempotencyKey'] }] });
    expect(messages()).toEqual(before);
    // The same key in another letter case, in the header and the body: the same request again.
    const again = await call('POST', '/whatsapp/send', {
      key: org.apiKey,
      headers: { 'idempotency-key': key.toUpperCase() },
      body: sendBody({ idempotencyKey: key }),
    });
    expect(ok('whatsapp:send', again)).toEqual(first);
  });

  it("takes the key's Bearer scheme in any letter case", async () => {
    for (const scheme of ['bearer', 'BEARER']) {
      const res = await call('GET', '/billing/balance', {
        headers: { authorization: `${scheme} ${org.apiKey}` },
      });
      expect(res.status).toBe(200);
    }
    failed(
      await call('GET', '/billing/balance', { headers: { authorization: `Basic ${org.apiKey}` } }),
      401,
      'UNAUTHORIZED',
    );
  });

  it('429 RATE_LIMITED with a Retry-After header', async () => {
    const limited = await t.org({ plan: 'free' });
    t.engine.db.sqlite.prepare(`UPDATE plans SET rate_limit_per_min = 2 WHERE id = 'free'`).run();
    try {
      for (let i = 0; i < 2; i++) {
        ok('whatsapp:send', await call('POST', '/whatsapp/send', { key: limited.apiKey, body: sendBody() }));
      }
      const a = await call('POST', '/whatsapp/send', { key: limited.apiKey, body: sendBody() });
      const body = failed(a, 429, 'RATE_LIMITED');
      const retryAfter = Number(a.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(body.details).toMatchObject({ limit: 2, retryAfterS: retryAfter });
    } finally {
      t.engine.db.sqlite.prepare(`UPDATE plans SET rate_limit_per_min = 1000000 WHERE id = 'free'`).run();
    }
  });

  it('413 for a body over 64 KiB, 415 for text/plain, 400 for malformed or empty JSON', async () => {
    const huge = sendBody({ text: 'x'.repeat(BODY_LIMIT) });
    failed(await call('POST', '/whatsapp/send', { key: org.apiKey, body: huge }), 413, 'PAYLOAD_TOO_LARGE');
    failed(
      await call('POST', '/whatsapp/send', {
        key: org.apiKey,
        headers: { 'content-type': 'text/plain' },
        body: JSON.stringify(sendBody()),
      }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    for (const raw of ['{"to":', '{"to": 1,}', "{'a': 1}", '']) {
      failed(
        await call('POST', '/whatsapp/send', {
          key: org.apiKey,
          headers: { 'content-type': 'application/json' },
          body: raw,
        }),
        400,
        'VALIDATION_ERROR',
      );
    }
  });
});

describe('the OpenAPI document', () => {
  it('lists every operation under /api/v1 with its method', async () => {
    const doc = (await call('GET', '/openapi.json')).json as {
      paths: Record<string, Record<string, unknown>>;
    };
    for (const op of Object.values(OPERATIONS)) {
      const path = `/api/v1${op.path.replace(/:(\w+)/g, '{$1}')}`;
      expect(doc.paths[path]?.[op.method.toLowerCase()], `${op.method} ${path}`).toBeDefined();
    }
  });

  interface Parameter {
    name: string;
    in: string;
    required?: boolean;
  }
  interface DocOperation {
    parameters?: Parameter[];
    requestBody?: unknown;
    security?: unknown[];
    responses: Record<string, unknown>;
  }
  const operation = async (method: string, path: string) => {
    const doc = (await call('GET', '/openapi.json')).json as {
      paths: Record<string, Record<string, DocOperation>>;
    };
    return doc.paths[`/api/v1${path}`]![method]!;
  };
  const where = (o: DocOperation) =>
    Object.fromEntries((o.parameters ?? []).map((p) => [p.name, `${p.in}${p.required ? '' : '?'}`]));

  it('puts path parameters in the path and the rest of a GET input in the query string', async () => {
    // The server reads afterSeq and limit from the query; listed as path parameters they were unusable.
    expect(where(await operation('get', '/agents/runs/{id}/logs'))).toEqual({
      id: 'path',
      afterSeq: 'query?',
      limit: 'query?',
    });
    expect(where(await operation('get', '/whatsapp/messages/{id}'))).toEqual({ id: 'path' });
    expect(where(await operation('get', '/dlq'))).toMatchObject({ cursor: 'query?', limit: 'query?' });
    const retry = await operation('post', '/dlq/{id}/retry');
    expect(where(retry)).toEqual({ id: 'path' });
    expect(retry.requestBody).toBeUndefined();
    expect((await operation('post', '/whatsapp/send')).requestBody).toBeDefined();
  });

  it('lists the security and the error answers each route can give', async () => {
    const events = await operation('get', '/events');
    expect(events.security).toEqual([{ apiKey: [] }]);
    expect(where(events)).toEqual({ key: 'query?' });
    for (const path of ['/ai/models', '/ai/voices']) {
      expect(Object.keys((await operation('get', path)).responses)).toEqual(
        expect.arrayContaining(['200', '401', '503']),
      );
    }
    const send = (await operation('post', '/whatsapp/send')).responses;
    expect(Object.keys(send)).toEqual(
      expect.arrayContaining(['202', '400', '401', '402', '409', '413', '415', '429', '503']),
    );
    // Health is public, and its 503 is a health report, not an error.
    const health = await operation('get', '/health');
    expect(health.security).toBeUndefined();
    expect(JSON.stringify(health.responses['503'])).toContain('checks');
  });
});

describe('the event stream', () => {
  /** A WebSocket on /events for `key`, collecting what it receives. */
  async function subscribe(key: string) {
    const ws = new WebSocket(
      `${api.base.replace('http', 'ws')}/api/v1/events?key=${encodeURIComponent(key)}`,
    );
    const received: unknown[] = [];
    const waiters: (() => void)[] = [];
    ws.onmessage = (m) => {
      received.push(JSON.parse(String(m.data)));
      waiters.splice(0).forEach((w) => w());
    };
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    /** Waits for the first event that passes `match`. */
    const until = async (match: (e: unknown) => boolean) => {
      for (;;) {
        const hit = received.find(match);
        if (hit) return hit;
        await new Promise<void>((r) => waiters.push(r));
      }
    };
    return { ws, received, until };
  }
  const reservedFor = (orgId: string) => (e: unknown) =>
    (e as EngineEvent).type === 'ledger.reserved' && (e as { orgId: string }).orgId === orgId;

  it("delivers ledger.reserved to the caller's own org and not to another org", async () => {
    const a = await t.org({ plan: 'free', credits: '5' });
    const b = await t.org({ plan: 'free', credits: '5' });
    const [sa, sb] = [await subscribe(a.apiKey), await subscribe(b.apiKey)];
    try {
      // The Free plan's first run is included; the second holds credit.
      for (const org of [a, a, b, b]) {
        ok('agents:run', await call('POST', '/agents/run', { key: org.apiKey, body: { prompt: 'hola' } }));
      }
      const mine = LedgerEventSchema.parse(await sa.until(reservedFor(a.orgId)));
      expect(mine).toMatchObject({ orgId: a.orgId, amountMicro: 1_000_000 });
      // b's own hold arrives after a's: had a's been sent to b, it would be there already.
      await sb.until(reservedFor(b.orgId));
      expect(sb.received.filter((e) => (e as { orgId?: string }).orgId === a.orgId)).toEqual([]);
      expect(sa.received.filter((e) => (e as { orgId?: string }).orgId === b.orgId)).toEqual([]);
      // Job events name the org of their job's payload: each org sees only its own runs' jobs.
      const jobsOf = (s: { received: unknown[] }) =>
        s.received
          .filter((e) => (e as EngineEvent).type === 'job.queued')
          .map((e) => (e as { jobId: string }).jobId);
      const runsOf = (orgId: string) =>
        (
          t.engine.db.sqlite.prepare(`SELECT id FROM agent_runs WHERE org_id = ?`).all(orgId) as {
            id: string;
          }[]
        ).map((r) => r.id);
      expect(jobsOf(sa).sort()).toEqual(runsOf(a.orgId).sort());
      expect(jobsOf(sb).sort()).toEqual(runsOf(b.orgId).sort());
    } finally {
      sa.ws.close();
      sb.ws.close();
    }
  });

  it("delivers the events of a dead letter's new job to its org, and not to another", async () => {
    const a = await t.org({ plan: 'starter' });
    const b = await t.org({ plan: 'starter' });
    const body = { instanceId: 'auto', to: '5215512345678', text: 'Hola' };
    const sent = ok('whatsapp:send', await call('POST', '/whatsapp/send', { key: a.apiKey, body }));
    const dead = nextEvent((e) => e.type === 'job.dead' && e.jobId === sent.jobId);
    let fail = true;
    const worker = t.engine.queue.process('whatsapp.send', async () => {
      if (fail) throw new UnrecoverableError('number not on WhatsApp');
      return 'sent';
    });
    const { deadLetterId } = (await dead) as { deadLetterId: string };
    const [sa, sb] = [await subscribe(a.apiKey), await subscribe(b.apiKey)];
    try {
      fail = false;
      const retried = ok('dlq:retry', await call('POST', `/dlq/${deadLetterId}/retry`, { key: a.apiKey }));
      expect(retried.id).not.toBe(sent.jobId);
      const ofRetried = (received: unknown[]) =>
        (received as EngineEvent[]).filter((e) => 'jobId' in e && e.jobId === retried.id);
      await sa.until((e) => (e as EngineEvent).type === 'job.completed' && ofRetried([e]).length === 1);
      expect(ofRetried(sa.received)).toEqual([
        expect.objectContaining({ type: 'job.queued', orgId: a.orgId }),
        expect.objectContaining({ type: 'job.active', orgId: a.orgId }),
        expect.objectContaining({ type: 'job.completed', orgId: a.orgId }),
      ]);
      expect(ofRetried(sb.received)).toEqual([]);
    } finally {
      sa.ws.close();
      sb.ws.close();
      await worker.close(0);
    }
  });
});

describe('the event stream over plain HTTP', () => {
  it('answers a GET without the upgrade in the shared error shape: 400 with a key, 401 without', async () => {
    const org = await t.org({ plan: 'starter' });
    const plain = await call('GET', '/events', { key: org.apiKey });
    expect(plain.status).toBe(400);
    expect(plain.json).toMatchObject({
      error: 'VALIDATION_ERROR',
      message: expect.stringMatching(/WebSocket/),
    });
    const anonymous = await call('GET', '/events');
    expect(anonymous.status).toBe(401);
    expect(anonymous.json).toMatchObject({ error: 'UNAUTHORIZED' });
  });
});

describe('the event stream after its key is revoked', () => {
  it('closes with 1008 instead of delivering the next event', async () => {
    const org = await t.org({ plan: 'starter' });
    const other = t.engine.apiKeys.create(org.orgId).key;
    const ws = new WebSocket(
      `${api.base.replace('http', 'ws')}/api/v1/events?key=${encodeURIComponent(other)}`,
    );
    const received: unknown[] = [];
    ws.onmessage = (m) => received.push(JSON.parse(String(m.data)));
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      ws.onclose = (e) => resolve({ code: e.code, reason: e.reason });
    });
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    const send = () =>
      call('POST', '/whatsapp/send', {
        key: org.apiKey,
        body: { instanceId: 'auto', to: '5215512345678', text: 'Hola' },
      });
    ok('whatsapp:send', await send());
    await until('the first event', () => received.length > 0);

    const keyId = t.engine.apiKeys.list(org.orgId).find((k) => other.includes(`_${k.prefix}_`))!.id;
    t.engine.apiKeys.revoke(keyId);
    await new Promise((r) => setTimeout(r, 1_100)); // past the stream's re-check interval
    const before = received.length;
    ok('whatsapp:send', await send());
    expect(await closed).toEqual({ code: 1008, reason: 'credential no longer valid' });
    expect(received).toHaveLength(before);
  });
});

// Last: the tests above saw every operation succeed over HTTP.
it('covers every operation of the table', () => {
  expect([...answered].sort()).toEqual(Object.keys(OPERATIONS).sort());
});
