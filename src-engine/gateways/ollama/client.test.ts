import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OllamaChatRequest, OllamaTool } from '../../contracts/ai.ts';
import { promptTokens, startOllamaSim, tokens, type OllamaSim } from '../../../test/sim/ollama/index.ts';
import { AiServiceError, createOllamaClient, toAiModels, type OllamaClient } from './index.ts';
import { rejectionOf } from '../../../test/support/rejection.ts';

const SHELL: OllamaTool = {
  type: 'function',
  function: {
    name: 'shell',
    description: 'Run a command in the workspace',
    parameters: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] },
  },
};

function ask(content: string, extra: Partial<OllamaChatRequest> = {}): OllamaChatRequest {
  return {
    model: 'llama3.2',
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content },
    ],
    ...extra,
  };
}

const failure = (promise: Promise<unknown>) => rejectionOf(promise, AiServiceError);

describe('Ollama client against the simulator', () => {
  let sim: OllamaSim;
  let ollama: OllamaClient;

  beforeEach(async () => {
    sim = await startOllamaSim();
    ollama = createOllamaClient({ baseUrl: sim.url, timeoutMs: 2_000 });
  });
  afterEach(() => sim.close());

  it('streams a text answer, assembles it and reports the token counts of the final chunk', async () => {
    const text = 'The sky is blue because of Rayleigh scattering.';
    sim.script('llama3.2', { type: 'text', text });
    const seen: string[] = [];
    const req = ask('Why is the sky blue?', { options: { temperature: 0 } });

    const result = await ollama.chat(req, {
      onChunk: (c) => seen.push(c.done ? '<done>' : c.message.content),
    });

    expect(result.message).toEqual({ role: 'assistant', content: text });
    expect(seen).toEqual([...tokens(text), '<done>']);
    expect(result.chunks).toBe(tokens(text).length);
    expect(result.evalCount).toBe(tokens(text).length);
    expect(result.promptEvalCount).toBe(promptTokens(req));
    expect(result.doneReason).toBe('stop');
    expect(result.totalDurationNs).toBeGreaterThan(0);
    expect(sim.chats).toEqual([{ ...req, stream: true }]);
  });

  it('reassembles NDJSON lines cut mid-line and mid-character by the network', async () => {
    const text = '¿Qué tal? El ñandú corre 🏃‍♀️ rápido — 東京 too.';
    sim.script('llama3.2', { type: 'text', text, splitLines: true });
    let chunks = 0;

    const result = await ollama.chat(ask('hola'), { onChunk: () => (chunks += 1) });

    expect(result.message.content).toBe(text);
    expect(chunks).toBe(tokens(text).length + 1);
  });

  it('returns tool calls with their arguments as objects, and sends the tools it was given', async () => {
    sim.script('llama3.2', {
      type: 'tool_call',
      name: 'shell',
      arguments: { command: 'ls -la', timeout: 5 },
    });

    const result = await ollama.chat(ask('list the files', { tools: [SHELL] }));

    expect(result.message.content).toBe('');
    expect(result.message.tool_calls).toEqual([
      { function: { index: 0, name: 'shell', arguments: { command: 'ls -la', timeout: 5 } } },
    ]);
    expect(result.evalCount).toBe(1);
    expect(sim.chats[0]?.tools).toEqual([SHELL]);
  });

  it('sends a tool result back in the conversation as Ollama expects it', async () => {
    sim.script(
      'llama3.2',
      { type: 'tool_call', name: 'shell', arguments: { command: 'pwd' } },
      { type: 'text', text: 'You are in /workspace.' },
    );
    const first = await ollama.chat(ask('where am I?', { tools: [SHELL] }));
    const messages = [
      ...ask('where am I?').messages,
      first.message,
      { role: 'tool' as const, tool_name: 'shell', content: '/workspace' },
    ];

    const second = await ollama.chat({ model: 'llama3.2', messages, tools: [SHELL] });

    expect(second.message.content).toBe('You are in /workspace.');
    expect(sim.chats[1]?.messages.slice(2)).toEqual([
      { role: 'assistant', content: '', tool_calls: first.message.tool_calls },
      { role: 'tool', tool_name: 'shell', content: '/workspace' },
    ]);
    expect(sim.pending('llama3.2')).toBe(0);
  });

  it('honours stream: false with one JSON answer, text or tool call', async () => {
    sim.script(
      'llama3.2',
      { type: 'text', text: 'Hello there!' },
      { type: 'tool_call', name: 'shell', arguments: { command: 'id' } },
    );

    const text = await ollama.chat(ask('hi', { stream: false }));
    const tool = await ollama.chat(ask('who am I?', { stream: false, tools: [SHELL] }));

    expect(text.message.content).toBe('Hello there!');
    expect(text.evalCount).toBe(2);
    expect(text.chunks).toBe(0);
    expect(tool.message.tool_calls?.[0]?.function).toEqual({
      index: 0,
      name: 'shell',
      arguments: { command: 'id' },
    });
    expect(sim.chats.map((c) => c.stream)).toEqual([false, false]);
  });

  it('answers `echo: <last user message>` when nothing is scripted', async () => {
    const result = await ollama.chat(ask('ping'));
    expect(result.message.content).toBe('echo: ping');
  });

  it('says which model to install when Ollama does not have it (404)', async () => {
    const err = await failure(ollama.chat(ask('hi', { model: 'mistral:7b' })));
    expect(err.kind).toBe('model_not_found');
    expect(err.httpStatus).toBe(404);
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toContain('ollama pull mistral:7b');
  });

  it('turns a 5xx into a server error that carries what Ollama said', async () => {
    sim.script('llama3.2', { type: 'http_error', status: 500, error: 'llama runner process has terminated' });
    const err = await failure(ollama.chat(ask('hi')));
    expect(err.kind).toBe('server');
    expect(err.httpStatus).toBe(500);
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toContain('llama runner process has terminated');
  });

  it('fails with stream_error on an {"error"} line in the middle of the stream', async () => {
    sim.script('llama3.2', {
      type: 'stream_error',
      text: 'Let me think',
      error: 'CUDA error: out of memory',
    });
    const seen: string[] = [];
    const err = await failure(
      ollama.chat(ask('hi'), { onChunk: (c) => seen.push(c.message?.content ?? '') }),
    );
    expect(err.kind).toBe('stream_error');
    expect(err.message).toContain('CUDA error: out of memory');
    expect(seen.join('')).toBe('Let me think');
  });

  it('times out when Ollama stops sending, before or during the answer, and leaves the connection', async () => {
    const quick = createOllamaClient({ baseUrl: sim.url, timeoutMs: 150 });
    sim.script('llama3.2', { type: 'hang' }, { type: 'hang', text: 'Half an' });

    const started = Date.now();
    const before = await failure(quick.chat(ask('hi')));
    const during = await failure(quick.chat(ask('hi')));

    expect([before.kind, during.kind]).toEqual(['timeout', 'timeout']);
    expect(before.message).toMatch(/did not answer within/);
    expect(Date.now() - started).toBeLessThan(1_500);
    await expect.poll(() => sim.abandoned).toBe(2);
  });

  it('stops when the caller aborts, e.g. a token budget enforced from onChunk', async () => {
    sim.script('llama3.2', {
      type: 'text',
      text: 'one two three four five six seven eight nine ten',
      delayMs: 10,
    });
    const budget = new AbortController();
    let tokensSeen = 0;

    const err = await failure(
      ollama.chat(ask('count'), {
        signal: budget.signal,
        onChunk: () => {
          tokensSeen += 1;
          if (tokensSeen === 3) budget.abort(new Error('token budget spent'));
        },
      }),
    );

    expect(err.kind).toBe('aborted');
    expect(err.cause).toEqual(new Error('token budget spent'));
    expect(tokensSeen).toBe(3);
    await expect.poll(() => sim.abandoned).toBe(1);
  });

  it('does not call Ollama at all with a signal already aborted', async () => {
    const err = await failure(ollama.chat(ask('hi'), { signal: AbortSignal.abort() }));
    expect(err.kind).toBe('aborted');
    expect(sim.chats).toEqual([]);
  });

  it('rethrows as is an error thrown by onChunk', async () => {
    const mine = new RangeError('stop here');
    await expect(
      ollama.chat(ask('hi there friend'), {
        onChunk: () => {
          throw mine;
        },
      }),
    ).rejects.toBe(mine);
  });

  it('lists installed and loaded models, and the version', async () => {
    expect((await ollama.ps()).models).toEqual([]);
    await ollama.chat(ask('warm up'));

    const tags = await ollama.tags();
    const ps = await ollama.ps();

    expect(tags.models.map((m) => m.name)).toEqual(['llama3.2:latest', 'qwen2.5:7b']);
    expect(ps.models.map((m) => m.name)).toEqual(['llama3.2:latest']);
    expect(await ollama.version()).toBe('0.12.6');
    expect(toAiModels(tags, ps)).toEqual([
      {
        name: 'llama3.2:latest',
        family: 'llama',
        parameterSize: '3.2B',
        quantization: 'Q4_K_M',
        sizeBytes: 2_019_393_189,
        modifiedAt: tags.models[0]?.modified_at,
        loaded: true,
      },
      expect.objectContaining({ name: 'qwen2.5:7b', family: 'qwen2', loaded: false }),
    ]);
  });
});

describe('Ollama client failures outside the service', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  async function serve(status: number, contentType: string, body: string): Promise<string> {
    server = createServer((_req, res) => {
      res.writeHead(status, { 'content-type': contentType });
      res.end(body);
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('reports a network error with the address when nothing listens there', async () => {
    const closed = await serve(200, 'text/plain', '');
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    server = undefined;
    const err = await failure(createOllamaClient({ baseUrl: closed }).version());
    expect(err.kind).toBe('network');
    expect(err.message).toContain(new URL(closed).host);
    expect(err.message).toContain('ECONNREFUSED');
  });

  it('reports bad_response when something else answers on that port', async () => {
    const url = await serve(200, 'text/html', '<html><body>Welcome to nginx!</body></html>');
    const ollama = createOllamaClient({ baseUrl: url });
    expect((await failure(ollama.tags())).kind).toBe('bad_response');
    expect((await failure(ollama.chat(ask('hi')))).kind).toBe('bad_response');
  });

  it('reports bad_response for JSON of another shape', async () => {
    const url = await serve(200, 'application/json', '{"models": [{"name": 42}]}');
    const err = await failure(createOllamaClient({ baseUrl: url }).tags());
    expect(err.kind).toBe('bad_response');
    expect(err.message).toContain('models.0.name');
  });
});
