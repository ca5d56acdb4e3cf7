import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  OllamaChatChunkSchema,
  OllamaChatFinalSchema,
  OllamaPsSchema,
  OllamaTagsSchema,
  OllamaVersionSchema,
} from '../../../src-engine/contracts/ai.ts';
import { startOllamaSim, type OllamaSim } from './index.ts';

// The simulator is checked on the wire, without our client, against the shapes of Ollama's docs.
describe('Ollama simulator wire format', () => {
  let sim: OllamaSim;
  beforeEach(async () => {
    sim = await startOllamaSim();
  });
  afterEach(() => sim.close());

  const chat = (body: unknown) =>
    fetch(`${sim.url}/api/chat`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });

  it('streams application/x-ndjson: content chunks with done:false, then one done:true chunk with counts', async () => {
    sim.script('llama3.2', { type: 'text', text: 'Hi there' });
    const res = await chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hello' }] });
    expect(res.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown);

    expect(lines.slice(0, -1).map((l) => OllamaChatChunkSchema.parse(l).message.content)).toEqual([
      'Hi',
      ' there',
    ]);
    const final = OllamaChatFinalSchema.parse(lines.at(-1));
    expect(final).toMatchObject({
      model: 'llama3.2',
      done: true,
      done_reason: 'stop',
      eval_count: 2,
      prompt_eval_count: 2,
    });
    expect(final.message).toEqual({ role: 'assistant', content: '' });
    for (const key of ['total_duration', 'load_duration', 'prompt_eval_duration', 'eval_duration'] as const) {
      expect(final[key]).toBeGreaterThan(0);
    }
  });

  it('answers one JSON object with stream:false', async () => {
    const res = await chat({
      model: 'qwen2.5:7b',
      messages: [{ role: 'user', content: 'x' }],
      stream: false,
    });
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(OllamaChatFinalSchema.parse(await res.json()).message?.content).toBe('echo: x');
  });

  it("answers Ollama's own 404 and 400 bodies", async () => {
    const missing = await chat({ model: 'nope', messages: [] });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'model "nope" not found, try pulling it first' });
    const noModel = await chat({ messages: [] });
    expect(noModel.status).toBe(400);
    expect(await noModel.json()).toEqual({ error: 'model is required' });
  });

  it('serves tags, ps, version and the root liveness text', async () => {
    const get = async (path: string) => (await fetch(`${sim.url}${path}`)).json() as Promise<unknown>;
    expect(OllamaTagsSchema.parse(await get('/api/tags')).models).toHaveLength(2);
    expect(OllamaPsSchema.parse(await get('/api/ps')).models).toEqual([]);
    expect(OllamaVersionSchema.parse(await get('/api/version'))).toEqual({ version: '0.12.6' });
    expect(await (await fetch(sim.url)).text()).toBe('Ollama is running');
    expect(sim.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /api/tags',
      'GET /api/ps',
      'GET /api/version',
      'GET /',
    ]);
  });
});
