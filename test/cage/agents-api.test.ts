import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorBodySchema, type ErrorCode } from '../../src-engine/contracts/errors.ts';
import type { EngineEvent } from '../../src-engine/contracts/events.ts';
import {
  listenApi,
  startTestEngine,
  type TestApi,
  type TestEngine,
  type TestOrg,
} from '../support/test-engine.ts';
import { callApi, okAnswer, type ApiAnswer } from '../support/api-calls.ts';

/**
 * `agents:list`, `agents:logs` and `agents:cancel` over real HTTP on an engine that runs no worker
 * (no data-dir lock, no Docker): what such a process can and cannot do with runs. The same
 * operations on the engine that runs cages are in agents-e2e.test.ts.
 */
let t: TestEngine;
let api: TestApi;
const events: EngineEvent[] = [];
beforeAll(async () => {
  t = await startTestEngine();
  t.engine.events.on((e) => events.push(e));
  api = await listenApi(t.engine);
});
afterAll(async () => {
  await api?.close();
  await t?.dispose();
});

const call = (method: 'GET' | 'POST', path: string, key: string, body?: unknown) =>
  callApi(api.base, method, path, key, body);

const ok = okAnswer;

function failed(a: ApiAnswer, status: number, code: ErrorCode) {
  expect(a.status, a.text).toBe(status);
  const body = ErrorBodySchema.parse(a.json);
  expect(body.error).toBe(code);
  return body;
}

const run = async (org: TestOrg, prompt = 'hola') =>
  ok('agents:run', await call('POST', '/agents/run', org.apiKey, { prompt })).runId;

const sqlite = () => t.engine.db.sqlite;
const holdOf = (runId: string) =>
  sqlite()
    .prepare<[string], { reservation_id: string | null }>(
      `SELECT reservation_id FROM agent_runs WHERE id = ?`,
    )
    .get(runId)!.reservation_id;

describe('GET /agents/runs', () => {
  it("pages the org's runs newest first, and only its own", async () => {
    const a = await t.org({ plan: 'starter', instances: 0 });
    const b = await t.org({ plan: 'starter', instances: 0 });
    const mine: string[] = [];
    for (let i = 0; i < 5; i++) mine.push(await run(a, `run ${i}`));
    await run(b);
    const runs = await Promise.all(mine.map((id) => t.engine.call('agents:get', { id }, a.apiKey)));
    const newestFirst = runs
      .sort((x, y) => y.createdAt - x.createdAt || (y.id < x.id ? -1 : y.id > x.id ? 1 : 0))
      .map((r) => r.id);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = ok('agents:list', await call('GET', `/agents/runs${query}`, a.apiKey));
      expect(page.items.length).toBeLessThanOrEqual(2);
      expect(page.items.every((r) => r.orgId === a.orgId)).toBe(true);
      seen.push(...page.items.map((r) => r.id));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual(newestFirst);

    const all = ok('agents:list', await call('GET', '/agents/runs', a.apiKey));
    expect(all.items.map((r) => r.id)).toEqual(newestFirst);
    expect(all.items[0]).toMatchObject({ status: 'queued', prompt: expect.stringMatching(/^run \d$/) });
    expect(all.nextCursor).toBeNull();
    failed(await call('GET', '/agents/runs?cursor=bm9wZQ', a.apiKey), 400, 'VALIDATION_ERROR');
    failed(await call('GET', '/agents/runs?limit=0', a.apiKey), 400, 'VALIDATION_ERROR');
    failed(await call('GET', '/agents/runs', 'ad_nope_nope'), 401, 'UNAUTHORIZED');
  });
});

describe('GET /agents/runs/:id/logs', () => {
  it("replays a run's stored log in order, in pages, and is 404 for another org's run", async () => {
    const a = await t.org({ plan: 'starter', instances: 0 });
    const b = await t.org({ plan: 'starter', instances: 0 });
    const id = await run(a);
    // What the worker stores as a run streams (see agent-worker.ts), written here directly.
    const insert = sqlite().prepare(
      `INSERT INTO agent_run_logs (run_id, seq, stream, text, ts) VALUES (?, ?, ?, ?, ?)`,
    );
    const streams = ['engine', 'runner', 'llm', 'tool', 'stderr'] as const;
    const lines = streams.map((stream, i) => ({
      runId: id,
      seq: i + 1,
      stream,
      text: `line ${i + 1}`,
      ts: 1000 + i,
    }));
    for (const l of [...lines].reverse()) insert.run(l.runId, l.seq, l.stream, l.text, l.ts);

    expect(ok('agents:logs', await call('GET', `/agents/runs/${id}/logs`, a.apiKey))).toEqual({
      items: lines,
      nextSeq: null,
    });
    // Paging: `afterSeq` and `limit` (through the operations table, as IPC calls it).
    const first = await t.engine.call('agents:logs', { id, afterSeq: 1, limit: 2 }, a.apiKey);
    expect(first).toEqual({ items: lines.slice(1, 3), nextSeq: 3 });
    const rest = await t.engine.call('agents:logs', { id, afterSeq: first.nextSeq ?? 0, limit: 2 }, a.apiKey);
    expect(rest).toEqual({ items: lines.slice(3, 5), nextSeq: null });
    expect(await t.engine.call('agents:logs', { id, afterSeq: 5 }, a.apiKey)).toEqual({
      items: [],
      nextSeq: null,
    });

    failed(await call('GET', `/agents/runs/${id}/logs`, b.apiKey), 404, 'NOT_FOUND');
    failed(await call('GET', `/agents/runs/${randomUUID()}/logs`, a.apiKey), 404, 'NOT_FOUND');
  });
});

describe('POST /agents/runs/:id/cancel in a process without the worker', () => {
  it('cancels a queued run at once and releases its hold; 409 once ended; 404 for another org', async () => {
    const a = await t.org({ plan: 'free', credits: '10', instances: 0 });
    const b = await t.org({ plan: 'free', instances: 0 });
    const included = await run(a);
    const paid = await run(a);
    expect(t.engine.ledger.getReservation(holdOf(paid)!)?.state).toBe('pending');
    expect(t.engine.ledger.balance(a.orgId)).toMatchObject({ availableMicro: 9_000_000 });

    failed(await call('POST', `/agents/runs/${paid}/cancel`, b.apiKey), 404, 'NOT_FOUND');
    const cancelled = ok('agents:cancel', await call('POST', `/agents/runs/${paid}/cancel`, a.apiKey));
    expect(cancelled).toMatchObject({
      id: paid,
      status: 'cancelled',
      error: 'cancelled by the user before it started',
      finishedAt: expect.any(Number),
    });
    expect(t.engine.ledger.getReservation(holdOf(paid)!)?.state).toBe('voided');
    expect(t.engine.ledger.balance(a.orgId)).toMatchObject({ availableMicro: 10_000_000, pendingMicro: 0 });
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'agent.status', runId: paid, status: 'cancelled', orgId: a.orgId }),
    );

    const again = failed(await call('POST', `/agents/runs/${paid}/cancel`, a.apiKey), 409, 'CONFLICT');
    expect(again.message).toMatch(/already ended \(cancelled\)/);

    // The included run goes back to the plan when cancelled: the next run is free again.
    ok('agents:cancel', await call('POST', `/agents/runs/${included}/cancel`, a.apiKey));
    const next = await run(a);
    expect(holdOf(next)).toBeNull();
  });

  it('answers 503 for a running run: only the engine that runs its cage can stop it', async () => {
    const a = await t.org({ plan: 'starter', instances: 0 });
    const id = await run(a);
    sqlite()
      .prepare(`UPDATE agent_runs SET status = 'running', started_at = ? WHERE id = ?`)
      .run(Date.now(), id);
    const body = failed(await call('POST', `/agents/runs/${id}/cancel`, a.apiKey), 503, 'UNAVAILABLE');
    expect(body.message).toMatch(/running in another engine process/);
    expect(ok('agents:get', await call('GET', `/agents/runs/${id}`, a.apiKey)).status).toBe('running');
  });
});
