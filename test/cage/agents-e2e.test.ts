import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentLogEvent } from '../../src-engine/contracts/cage.ts';
import { ErrorBodySchema } from '../../src-engine/contracts/errors.ts';
import { ensureDocker } from '../support/docker.ts';
import {
  listenApi,
  startTestEngine,
  type TestApi,
  type TestEngine,
  type TestOrg,
} from '../support/test-engine.ts';
import { startOllamaSim, type OllamaSim } from '../sim/ollama/index.ts';
import { containersOf, MODEL, until } from './harness.ts';
import { callApi, okAnswer } from '../support/api-calls.ts';

/**
 * Done means: `POST /api/v1/agents/run` on the real engine (SQLite, guard, queue, ledger, the
 * `agent.run` worker of the engine holding the data-dir lock) -> a real cage on Docker -> the Ollama
 * simulator -> live `agent.log` lines on the WebSocket -> a charged result, replayable.
 */
const env = await ensureDocker();

describe.skipIf(!env.ok)('agent runs end to end over the API', () => {
  let docker: Docker;
  let t: TestEngine;
  let api: TestApi;
  let sim: OllamaSim;

  beforeAll(async () => {
    if (!env.ok) return;
    docker = env.docker;
    sim = await startOllamaSim();
    t = await startTestEngine(
      {
        OLLAMA_URL: sim.url,
        CAGE_IMAGE: env.cageImage,
        CAGE_MEMORY_MB: '256',
        ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {}),
      },
      { exclusive: true },
    );
    api = await listenApi(t.engine);
  });
  afterAll(async () => {
    await api?.close();
    await t?.dispose(); // cancels what still runs and removes its cage
    await sim?.close();
  });

  const call = (method: 'GET' | 'POST', path: string, key: string, body?: unknown) =>
    callApi(api.base, method, path, key, body);
  const ok = okAnswer;
  const runAgent = async (org: TestOrg, prompt: string) =>
    ok('agents:run', await call('POST', '/agents/run', org.apiKey, { prompt, maxSteps: 3, timeoutS: 60 }))
      .runId;
  const getRun = async (org: TestOrg, id: string) =>
    ok('agents:get', await call('GET', `/agents/runs/${id}`, org.apiKey));
  const ended = async (org: TestOrg, id: string) => {
    await until(
      async () => !['queued', 'running'].includes((await getRun(org, id)).status),
      30_000,
      `run ${id}`,
    );
    return getRun(org, id);
  };

  /** The org's events on the WebSocket, as received. */
  async function subscribe(key: string) {
    const ws = new WebSocket(
      `${api.base.replace('http', 'ws')}/api/v1/events?key=${encodeURIComponent(key)}`,
    );
    const received: { type: string; runId?: string; status?: string }[] = [];
    ws.onmessage = (m) => received.push(JSON.parse(String(m.data)) as (typeof received)[number]);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    return { ws, received };
  }

  it('runs an agent from POST /agents/run to a charged result, with its log live on the WebSocket and replayable', async () => {
    const org = await t.org({ plan: 'free', credits: '10', instances: 0 });
    const events = await subscribe(org.apiKey);
    try {
      const logsOf = (id: string) =>
        events.received.filter(
          (e): e is AgentLogEvent & { type: 'agent.log' } => e.type === 'agent.log' && e.runId === id,
        );
      const statusesOf = (id: string) =>
        events.received.filter((e) => e.type === 'agent.status' && e.runId === id).map((e) => e.status);

      // The Free plan's included run: free, and logged.
      const first = await runAgent(org, 'say hello');
      expect(await ended(org, first)).toMatchObject({ status: 'success', output: `echo: say hello` });
      await until(() => statusesOf(first).includes('success'), 5000, 'the success event');
      expect(statusesOf(first)).toEqual(['running', 'success']);

      // The second run of the cycle is charged: 1 credit held at enqueue, captured on success.
      sim.script(MODEL, { type: 'tool_call', name: 'shell', arguments: { command: 'echo caged; id -u' } });
      sim.script(MODEL, { type: 'tool_call', name: 'finish', arguments: { output: 'done from the cage' } });
      const second = await runAgent(org, 'use the shell');
      expect(ok('billing:balance', await call('GET', '/billing/balance', org.apiKey))).toMatchObject({
        postedMicro: 10_000_000,
        pendingMicro: 1_000_000,
      });
      const run = await ended(org, second);
      expect(run).toMatchObject({
        status: 'success',
        output: 'done from the cage',
        stepsUsed: 2,
        error: null,
      });
      await until(() => statusesOf(second).includes('success'), 5000, 'the success event');

      // Live lines on the WebSocket, in order, the same ones the stored log replays.
      const live = logsOf(second);
      expect(live.map((e) => e.seq)).toEqual(live.map((_, i) => i + 1));
      expect(live.some((e) => e.stream === 'runner')).toBe(true);
      expect(
        live.some((e) => e.stream === 'tool' && e.text.includes('caged') && e.text.includes('10001')),
      ).toBe(true);
      const replay = ok('agents:logs', await call('GET', `/agents/runs/${second}/logs`, org.apiKey));
      expect(replay.nextSeq).toBeNull();
      expect(replay.items).toEqual(
        live.map(({ runId, seq, stream, text, ts }) => ({ runId, seq, stream, text, ts })),
      );

      // The charge, in the ledger.
      expect(ok('billing:balance', await call('GET', '/billing/balance', org.apiKey))).toMatchObject({
        postedMicro: 9_000_000,
        pendingMicro: 0,
        availableMicro: 9_000_000,
      });
      const transfers = ok('billing:transactions', await call('GET', '/billing/transactions', org.apiKey));
      expect(transfers.items.filter((x) => x.kind === 'USAGE_AGENT')).toEqual([
        expect.objectContaining({ amountMicro: 1_000_000, reference: `agent-run:${second}` }),
      ]);
      const listed = ok('agents:list', await call('GET', '/agents/runs', org.apiKey));
      expect(listed.items.map((r) => [r.id, r.status])).toEqual([
        [second, 'success'],
        [first, 'success'],
      ]);
      expect(await containersOf(docker, first)).toEqual([]);
      expect(await containersOf(docker, second)).toEqual([]);
    } finally {
      events.ws.close();
    }
  });

  it('answers 402 to a Free org with its included run taken and no credit; cancelling a run stops its cage', async () => {
    const org = await t.org({ plan: 'free', instances: 0 });
    sim.script(MODEL, { type: 'hang' });
    const first = await runAgent(org, 'think forever');
    const refused = await call('POST', '/agents/run', org.apiKey, { prompt: 'one more' });
    expect(refused.status, refused.text).toBe(402);
    expect(ErrorBodySchema.parse(refused.json).error).toBe('INSUFFICIENT_CREDITS');

    await until(async () => (await getRun(org, first)).status === 'running', 20_000, 'the run to start');
    const accepted = ok('agents:cancel', await call('POST', `/agents/runs/${first}/cancel`, org.apiKey));
    expect(accepted.id).toBe(first);
    const run = await ended(org, first);
    expect(run).toMatchObject({ status: 'cancelled', error: 'cancelled: cancelled by the user' });
    expect(await containersOf(docker, first)).toEqual([]);
    const again = await call('POST', `/agents/runs/${first}/cancel`, org.apiKey);
    expect(again.status, again.text).toBe(409);
    // A cancelled run is not charged: the included run is the org's again.
    expect(
      ok('agents:run', await call('POST', '/agents/run', org.apiKey, { prompt: 'now' })).runId,
    ).toBeTruthy();
  });
});
