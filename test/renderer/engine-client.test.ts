import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiServer } from '../../src-engine/api/server.ts';
import { loadConfig } from '../../src-engine/config/index.ts';
import type { EngineEvent } from '../../src-engine/contracts/events.ts';
import { OPERATIONS } from '../../src-engine/contracts/operations.ts';
import { createEngine, type Engine } from '../../src-engine/engine.ts';
import { createOrganization } from '../../src-engine/ledger/orgs.ts';
import { createLogger } from '../../src-engine/logger.ts';
import { createEngineClient, type ConnectionState } from '../../src-renderer/src/client/engine-client.ts';
import { ClientError } from '../../src-renderer/src/client/errors.ts';
import {
  backoffDelay,
  createHttpTransport,
  httpRequestFor,
} from '../../src-renderer/src/client/http-transport.ts';

let dir: string;
let engine: Engine;
let app: FastifyInstance;
let port: number;
let base: string;
let token: string;
let orgId: string;

async function listen(): Promise<void> {
  app = await createApiServer(engine);
  await app.listen({ host: '127.0.0.1', port });
  const addr = app.server.address();
  port = typeof addr === 'object' && addr ? addr.port : 0;
  base = `http://127.0.0.1:${port}`;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agencia-client-'));
  engine = await createEngine({
    config: loadConfig({ AGENCIA_DATA_DIR: dir }),
    log: createLogger('engine', { level: 'silent' }),
  });
  orgId = createOrganization(engine.db, { name: 'Client test', planId: 'free' });
  token = engine.sessions.issue(orgId);
  port = 0;
  await listen();
});

afterAll(async () => {
  await app.close();
  await engine.close(0);
  rmSync(dir, { recursive: true, force: true });
});

/** Resolves with the first value `predicate` accepts from a push source. */
function waitFor<T>(subscribe: (fn: (v: T) => void) => () => void, predicate: (v: T) => boolean, ms = 5000) {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => reject(new Error('timed out')), ms);
    // A source may answer during subscribe() itself (the connection state does).
    const off = subscribe((v) => {
      if (done || !predicate(v)) return;
      done = true;
      clearTimeout(timer);
      queueMicrotask(() => off());
      resolve(v);
    });
  });
}

const caught = (p: Promise<unknown>) =>
  p.then(
    () => expect.fail('should have thrown'),
    (e: unknown) => e as ClientError,
  );

describe('httpRequestFor', () => {
  it('puts path parameters in the path, the rest in the query (GET) or the body (POST)', () => {
    expect(httpRequestFor(OPERATIONS['dlq:retry'], { id: 'a/b c' })).toEqual({
      method: 'POST',
      url: '/api/v1/dlq/a%2Fb%20c/retry',
      body: '{}',
    });
    expect(
      httpRequestFor(OPERATIONS['dlq:list'], { resolved: 'false', limit: 25, cursor: undefined }),
    ).toEqual({
      method: 'GET',
      url: '/api/v1/dlq?resolved=false&limit=25',
    });
    expect(
      httpRequestFor(OPERATIONS['whatsapp:send'], { instanceId: 'auto', to: '5215512345678', text: 'hola' }),
    ).toMatchObject({ method: 'POST', url: '/api/v1/whatsapp/send', body: expect.stringContaining('"to"') });
  });

  it('backs off exponentially with jitter, up to the cap', () => {
    const policy = { baseMs: 500, maxMs: 30_000 };
    expect(backoffDelay(0, policy, () => 0)).toBe(250);
    expect(backoffDelay(0, policy, () => 1)).toBe(500);
    expect(backoffDelay(3, policy, () => 1)).toBe(4000);
    expect(backoffDelay(50, policy, () => 1)).toBe(30_000);
    expect(backoffDelay(50, policy, () => 0)).toBe(15_000);
  });
});

describe('EngineClient over HTTP against a real engine', () => {
  it('calls operations and checks the answers against their schemas', async () => {
    const client = createEngineClient(createHttpTransport({ baseUrl: base, token }));
    try {
      const health = await client.call('health:get', {});
      expect(health.service).toBe('engine');
      const balance = await client.call('billing:balance', {});
      expect(balance).toMatchObject({ orgId, availableMicro: 0, quota: { plan: { id: 'free' } } });
      const history = await client.call('billing:transactions', { limit: 5 });
      expect(history).toEqual({ items: [], nextCursor: null });
    } finally {
      client.close();
    }
  });

  it('refuses an invalid input before sending anything', async () => {
    let requests = 0;
    const client = createEngineClient(
      createHttpTransport({
        baseUrl: base,
        token,
        fetch: (...args) => {
          requests++;
          return fetch(...args);
        },
      }),
    );
    try {
      const err = await caught(client.call('whatsapp:send', { instanceId: 'auto', to: '12', text: 'x' }));
      expect(err).toBeInstanceOf(ClientError);
      expect(err.code).toBe('VALIDATION_ERROR');
      expect(requests).toBe(0);
    } finally {
      client.close();
    }
  });

  it('turns engine errors into ClientErrors with their code', async () => {
    const client = createEngineClient(createHttpTransport({ baseUrl: base, token }));
    const stranger = createEngineClient(createHttpTransport({ baseUrl: base, token: 'ads_nope' }));
    try {
      expect((await caught(client.call('agents:get', { id: 'missing' }))).code).toBe('NOT_FOUND');
      expect((await caught(stranger.call('billing:balance', {}))).code).toBe('UNAUTHORIZED');
      // The Free plan has one WhatsApp instance.
      await client.call('whatsapp:addInstance', { name: 'Uno', evolutionInstance: 'uno' });
      const limit = await caught(
        client.call('whatsapp:addInstance', { name: 'Dos', evolutionInstance: 'dos' }),
      );
      expect(limit.code).toBe('PLAN_LIMIT');
    } finally {
      client.close();
      stranger.close();
    }
  });

  it('refuses an answer outside the contract', async () => {
    const client = createEngineClient(
      createHttpTransport({
        baseUrl: base,
        token,
        fetch: async () => Response.json({ status: 'ok' }),
      }),
    );
    try {
      expect((await caught(client.call('health:get', {}))).code).toBe('INTERNAL_ERROR');
    } finally {
      client.close();
    }
  });

  it('says UNAVAILABLE when nothing listens', async () => {
    const client = createEngineClient(createHttpTransport({ baseUrl: 'http://127.0.0.1:9', token }));
    try {
      expect((await caught(client.call('health:get', {}))).code).toBe('UNAVAILABLE');
    } finally {
      client.close();
    }
  });

  it('retries and resolves a dead letter of the org (path parameters on POST)', async () => {
    engine.queue.process('test.client-dead', async () => {
      throw new Error('always fails');
    });
    const client = createEngineClient(createHttpTransport({ baseUrl: base, token }));
    try {
      // Test jobs belong to no guarded row, so they stay off the org's stream: watch the engine's bus.
      const dead = waitFor<EngineEvent>(engine.events.on, (e) => e.type === 'job.dead');
      await engine.queue.add('test.client-dead', { orgId }, { attempts: 1 });
      const event = await dead;
      const id = event.type === 'job.dead' ? event.deadLetterId : '';
      const open = await client.call('dlq:list', { resolved: 'false' });
      expect(open.items.map((d) => d.id)).toContain(id);
      const retried = await client.call('dlq:retry', { id });
      expect(retried.queue).toBe('test.client-dead');
      const resolved = await client.call('dlq:resolve', { id });
      expect(resolved).toMatchObject({ id, resolved: true });
    } finally {
      client.close();
    }
  });

  it('delivers contract events, skips unknown ones, and reconnects after the engine comes back', async () => {
    const states: ConnectionState[] = [];
    const client = createEngineClient(
      createHttpTransport({ baseUrl: base, token, backoff: { baseMs: 50, maxMs: 200 } }),
    );
    const seen: string[] = [];
    client.subscribe((e) => seen.push(e.type));
    client.onConnection((s) => states.push(s));
    const topUp = (amountMicro: number) =>
      engine.ledger.transfer({ id: randomUUID(), orgId, kind: 'ADJUSTMENT', amountMicro });
    try {
      await waitFor<ConnectionState>(client.onConnection, (s) => s === 'open');
      engine.events.emit({ type: 'instance.future', orgId } as unknown as EngineEvent);
      const posted = waitFor<EngineEvent>(client.subscribe, (e) => e.type === 'ledger.posted');
      topUp(1_000_000);
      expect(await posted).toMatchObject({ type: 'ledger.posted', orgId, amountMicro: 1_000_000 });
      expect(seen).toEqual(['ledger.posted']);

      await app.close();
      await waitFor<ConnectionState>(client.onConnection, (s) => s === 'closed');
      await listen();
      await waitFor<ConnectionState>(client.onConnection, (s) => s === 'open');
      const again = waitFor<EngineEvent>(client.subscribe, (e) => e.type === 'ledger.posted');
      topUp(2_000_000);
      expect(await again).toMatchObject({ amountMicro: 2_000_000 });
      expect(states.slice(0, 2)).toEqual(['connecting', 'open']);
      expect(states).toContain('closed');
    } finally {
      client.close();
    }
  });
});
