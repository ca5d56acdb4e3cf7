import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/index.ts';
import { JobEventSchema } from '../contracts/events.ts';
import { HealthSchema } from '../contracts/health.ts';
import { createEngine, type Engine } from '../engine.ts';
import { createOrganization } from '../ledger/orgs.ts';
import { createLogger } from '../logger.ts';
import { listenApi, type TestApi } from '../../test/support/test-engine.ts';

let dir: string;
let engine: Engine;
let api: TestApi;
let base: string;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agencia-api-'));
  engine = await createEngine({
    config: loadConfig({ AGENCIA_DATA_DIR: dir }),
    log: createLogger('engine', { level: 'silent' }),
  });
  api = await listenApi(engine);
  base = api.base;
});
afterEach(async () => {
  await api.close();
  await engine.close(0);
  rmSync(dir, { recursive: true, force: true });
});

function makeKey(): string {
  createOrganization(engine.db, { id: 'org-1', name: 'Org', planId: 'free' });
  return engine.apiKeys.create('org-1').key;
}

describe('local API', () => {
  it('reports health in its schema', async () => {
    const res = await fetch(`${base}/api/v1/health`);
    expect(res.status).toBe(200);
    const body = HealthSchema.parse(await res.json());
    expect(body.checks.database?.status).toBe('healthy');
    // Each reason also as data, for the desktop to say in its user's language.
    expect(body.checks.evolution).toEqual({
      status: 'disabled',
      reason: 'EVOLUTION_URL is not set',
      detail: { code: 'not_configured', setting: 'EVOLUTION_URL' },
    });
    expect(body.checks.ledger?.detail).toEqual({ code: 'not_configured', setting: 'LEDGER_URL' });
    expect(body.checks.ollama).toMatchObject({
      status: 'unhealthy',
      detail: { code: 'unreachable', error: body.checks.ollama?.reason },
    });
  });

  it('answers unknown routes with 404 in the shared error shape', async () => {
    const res = await fetch(`${base}/api/v1/nope?x=1`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'NOT_FOUND', message: 'No route GET /api/v1/nope' });
  });

  it('serves an OpenAPI document generated from the zod schemas', async () => {
    const doc = (await (await fetch(`${base}/api/v1/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, { get?: { responses?: Record<string, unknown> } }>;
    };
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.paths['/api/v1/health']?.get?.responses?.['200']).toBeDefined();
    expect(JSON.stringify(doc.paths['/api/v1/health'])).toContain('uptime');
  });

  it('streams typed events over a WebSocket to holders of a valid key only', async () => {
    const key = makeKey();
    // An upgrade without a key is answered with a plain 401 in the shared shape, never upgraded.
    const refused = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${base}/api/v1/events`, {
        headers: {
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-version': '13',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        },
      });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (d) => (body += String(d)));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('upgrade', () => reject(new Error('upgraded without a key')));
      req.on('error', reject);
      req.end();
    });
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body)).toMatchObject({ error: 'UNAUTHORIZED' });

    const ws = new WebSocket(`${base.replace('http', 'ws')}/api/v1/events?key=${key}`);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    const got = new Promise<unknown>(
      (resolve) => (ws.onmessage = (m) => resolve(JSON.parse(String(m.data)))),
    );
    // An engine job without an org (e.g. a schedule) is nobody's business: only the org's own arrive.
    await engine.queue.add('test.ws', { hola: 1 });
    const { runId } = await engine.call('agents:run', { prompt: 'hola' }, key);
    const event = JobEventSchema.parse(await got);
    expect(event).toMatchObject({ type: 'job.queued', queue: 'agent.run', jobId: runId });
    ws.close();
  });
});
