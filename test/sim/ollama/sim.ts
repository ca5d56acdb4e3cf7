import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  OllamaChatRequest,
  OllamaMessage,
  OllamaModel,
  OllamaRunningModel,
} from '../../../src-engine/contracts/ai.ts';

/** One scripted answer to one `POST /api/chat`. */
export type SimReply =
  /** Streamed as one chunk per word (a leading space stays with its word, as real tokens do). */
  | { type: 'text'; text: string; delayMs?: number; doneReason?: string; splitLines?: boolean }
  /** A tool call in one chunk, after `text` if given; arguments are an object, as Ollama sends them. */
  | { type: 'tool_call'; name: string; arguments: Record<string, unknown>; text?: string; delayMs?: number }
  /** Streams `text` (if any), then a `{"error": ...}` line and ends without a final chunk. */
  | { type: 'stream_error'; error: string; text?: string; delayMs?: number }
  /** Answers at once with this status and `{"error": ...}`. */
  | { type: 'http_error'; status: number; error: string }
  /** Streams `text` (if any), then never another byte; the connection stays open until the client leaves. */
  | { type: 'hang'; text?: string };

export interface SimModel {
  name: string;
  family?: string;
  parameterSize?: string;
  quantization?: string;
  size?: number;
}

export interface OllamaSimOptions {
  /** Installed models (`/api/tags`); a chat with any other model is a 404. Default: `llama3.2:latest`, `qwen2.5:7b`. */
  models?: Array<string | SimModel>;
  /** Pause between two streamed chunks (default 1 ms). */
  chunkDelayMs?: number;
  version?: string;
  /** The answer when a model's script is empty. Default: {@link echoReply}. */
  fallback?: (req: OllamaChatRequest) => SimReply;
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** The parsed JSON body, `undefined` when there was none or it was not JSON. */
  body: unknown;
}

export interface OllamaSim {
  /** Base URL, e.g. `http://127.0.0.1:41234`: give it to the client as `baseUrl`. */
  url: string;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** The bodies of `POST /api/chat`, in order: what the model was sent (messages, tools, options). */
  readonly chats: OllamaChatRequest[];
  /** Chat answers the client walked away from before their end (an abort, a timeout, a hang). */
  readonly abandoned: number;
  /** Queues replies for a model (`llama3.2` and `llama3.2:latest` are the same model). */
  script(model: string, ...replies: SimReply[]): void;
  /** Replies still queued for a model. */
  pending(model: string): number;
  setModels(models: Array<string | SimModel>): void;
  close(): Promise<void>;
}

const DEFAULT_MODELS: SimModel[] = [
  {
    name: 'llama3.2:latest',
    family: 'llama',
    parameterSize: '3.2B',
    quantization: 'Q4_K_M',
    size: 2_019_393_189,
  },
  { name: 'qwen2.5:7b', family: 'qwen2', parameterSize: '7.6B', quantization: 'Q4_K_M', size: 4_683_087_332 },
];

/** The default answer: `echo: <last user message>` as streamed text, so an unscripted run still ends. */
export function echoReply(req: OllamaChatRequest): SimReply {
  const lastUser = [...req.messages].reverse().find((m) => m.role === 'user');
  return { type: 'text', text: `echo: ${lastUser?.content ?? ''}` };
}

/** `llama3.2` means `llama3.2:latest`, as in Ollama. */
export function modelKey(name: string): string {
  const lastPart = name.split('/').pop() ?? name;
  return lastPart.includes(':') ? name : `${name}:latest`;
}

/** Starts a fake Ollama on 127.0.0.1 (a free port) speaking the native `/api/*` wire format. */
export async function startOllamaSim(opts: OllamaSimOptions = {}): Promise<OllamaSim> {
  const chunkDelayMs = opts.chunkDelayMs ?? 1;
  const version = opts.version ?? '0.12.6';
  const fallback = opts.fallback ?? echoReply;
  let models = toModels(opts.models ?? DEFAULT_MODELS);
  const loaded = new Map<string, OllamaRunningModel>();
  const scripts = new Map<string, SimReply[]>();
  const requests: RecordedRequest[] = [];
  const chats: OllamaChatRequest[] = [];
  let abandoned = 0;

  const server = createServer((req, res) => {
    void handle(req, res).catch(() => res.destroy());
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const body = parseJson(raw);
    const path = new URL(req.url ?? '/', 'http://sim').pathname;
    requests.push({ method: req.method ?? 'GET', path, body });
    const route = `${req.method} ${path}`;
    if (route === 'GET /' || route === 'HEAD /') return text(res, 200, 'Ollama is running');
    if (route === 'GET /api/version') return json(res, 200, { version });
    if (route === 'GET /api/tags') return json(res, 200, { models });
    if (route === 'GET /api/ps') return json(res, 200, { models: [...loaded.values()] });
    if (route === 'POST /api/chat') return chat(raw, body, res);
    return text(res, 404, '404 page not found');
  }

  async function chat(raw: string, body: unknown, res: ServerResponse): Promise<void> {
    if (body === undefined || typeof body !== 'object' || body === null) {
      return json(res, 400, {
        error: raw.trim() === '' ? 'missing request body' : 'invalid JSON in request body',
      });
    }
    const req = body as OllamaChatRequest;
    if (typeof req.model !== 'string' || req.model === '')
      return json(res, 400, { error: 'model is required' });
    chats.push(req);
    const installed = models.find((m) => m.name === modelKey(req.model));
    if (!installed) return json(res, 404, { error: `model "${req.model}" not found, try pulling it first` });
    const reply = scripts.get(modelKey(req.model))?.shift() ?? fallback(req);
    if (reply.type === 'http_error') return json(res, reply.status, { error: reply.error });
    markLoaded(installed);
    const answer = new Answer(req, res, chunkDelayMs);
    res.on('close', () => {
      if (!answer.finished) abandoned += 1;
    });
    await answer.play(reply);
  }

  function markLoaded(m: OllamaModel): void {
    const expires = new Date(Date.now() + 5 * 60_000).toISOString();
    loaded.set(m.name, {
      name: m.name,
      model: m.name,
      size: m.size,
      digest: m.digest,
      details: m.details,
      expires_at: expires,
      size_vram: m.size,
    });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    chats,
    get abandoned() {
      return abandoned;
    },
    script(model, ...replies) {
      const key = modelKey(model);
      scripts.set(key, [...(scripts.get(key) ?? []), ...replies]);
    },
    pending: (model) => scripts.get(modelKey(model))?.length ?? 0,
    setModels(list) {
      models = toModels(list);
    },
    close: () =>
      new Promise<void>((resolve) => {
        // Hanging answers keep their sockets open: close them, or `close` would wait for ever.
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** One chat answer being written: NDJSON chunks (or one JSON object with `stream: false`). */
class Answer {
  finished = false;
  private readonly streaming: boolean;
  private readonly started = process.hrtime.bigint();
  private chunks = 0;
  private content = '';
  private toolCalls: OllamaMessage['tool_calls'];

  constructor(
    private readonly req: OllamaChatRequest,
    private readonly res: ServerResponse,
    private readonly delayMs: number,
  ) {
    this.streaming = req.stream !== false;
  }

  async play(reply: Exclude<SimReply, { type: 'http_error' }>): Promise<void> {
    if (this.streaming) {
      this.res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      this.res.flushHeaders();
      this.res.socket?.setNoDelay(true);
    }
    const delay = 'delayMs' in reply && reply.delayMs !== undefined ? reply.delayMs : this.delayMs;
    const split = reply.type === 'text' && reply.splitLines === true;
    if (reply.text) {
      for (const token of tokens(reply.text)) {
        if (!(await this.send({ role: 'assistant', content: token }, delay, split))) return;
      }
    }
    switch (reply.type) {
      case 'text':
        return this.end(reply.doneReason ?? 'stop', split);
      case 'tool_call': {
        const call = { function: { index: 0, name: reply.name, arguments: reply.arguments } };
        if (!(await this.send({ role: 'assistant', content: '', tool_calls: [call] }, delay, false))) return;
        return this.end('stop', false);
      }
      case 'stream_error':
        this.finished = true;
        if (!this.streaming) return json(this.res, 500, { error: reply.error });
        this.res.end(`${JSON.stringify({ error: reply.error })}\n`);
        return;
      case 'hang':
        return; // Nothing more, ever: the response stays open.
    }
  }

  /** Writes one chunk (streaming) or keeps it for the single answer; false once the client has gone. */
  private async send(message: OllamaMessage, delayMs: number, split: boolean): Promise<boolean> {
    this.chunks += 1;
    this.content += message.content;
    if (message.tool_calls) this.toolCalls = [...(this.toolCalls ?? []), ...message.tool_calls];
    if (!this.streaming) return true;
    if (this.res.destroyed) return false;
    const line = { model: this.req.model, created_at: new Date().toISOString(), message, done: false };
    await this.write(`${JSON.stringify(line)}\n`, split);
    if (delayMs > 0) await sleep(delayMs);
    return !this.res.destroyed;
  }

  private async end(doneReason: string, split: boolean): Promise<void> {
    const totalNs = Number(process.hrtime.bigint() - this.started);
    const message: OllamaMessage = this.streaming
      ? { role: 'assistant', content: '' }
      : {
          role: 'assistant',
          content: this.content,
          ...(this.toolCalls ? { tool_calls: this.toolCalls } : {}),
        };
    const final = {
      model: this.req.model,
      created_at: new Date().toISOString(),
      message,
      done_reason: doneReason,
      done: true,
      total_duration: totalNs + 1_000_000,
      load_duration: 1_000_000,
      prompt_eval_count: promptTokens(this.req),
      prompt_eval_duration: Math.round(totalNs / 4),
      eval_count: this.chunks,
      eval_duration: Math.round((totalNs * 3) / 4),
    };
    this.finished = true;
    if (!this.streaming) return json(this.res, 200, final);
    await this.write(`${JSON.stringify(final)}\n`, split);
    this.res.end();
  }

  /** With `split`, a line goes out in two writes: cut inside its first multi-byte character, or mid-line. */
  private async write(line: string, split: boolean): Promise<void> {
    const bytes = Buffer.from(line);
    if (!split) {
      this.res.write(bytes);
      return;
    }
    const wide = bytes.findIndex((b) => b >= 0x80);
    const cut = wide >= 0 ? wide + 1 : Math.max(1, Math.floor(bytes.length / 2));
    this.res.write(bytes.subarray(0, cut));
    await sleep(5);
    if (!this.res.destroyed) this.res.write(bytes.subarray(cut));
  }
}

/** Words with their leading spaces: `"a b"` -> `["a", " b"]`. */
export function tokens(text: string): string[] {
  return text.match(/\s*\S+|\s+$/g) ?? [];
}

/** About four characters per token, as a rough tokenizer would count the prompt (and the tools). */
export function promptTokens(req: OllamaChatRequest): number {
  const chars =
    req.messages.reduce((n, m) => n + m.content.length, 0) +
    (req.tools ? JSON.stringify(req.tools).length : 0);
  return Math.max(1, Math.ceil(chars / 4));
}

function toModels(list: Array<string | SimModel>): OllamaModel[] {
  return list.map((entry) => {
    const m = typeof entry === 'string' ? { name: entry } : entry;
    const name = modelKey(m.name);
    const family = m.family ?? name.split(/[:.\d]/)[0] ?? 'llama';
    return {
      name,
      model: name,
      modified_at: '2025-01-15T10:20:30.123456789Z',
      size: m.size ?? 1_000_000_000,
      digest: createHash('sha256').update(name).digest('hex'),
      details: {
        parent_model: '',
        format: 'gguf',
        family,
        families: [family],
        parameter_size: m.parameterSize ?? '3B',
        quantization_level: m.quantization ?? 'Q4_K_M',
      },
    };
  });
}

async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

function parseJson(raw: string): unknown {
  try {
    return raw === '' ? undefined : JSON.parse(raw);
  } catch {
    return undefined;
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(body);
}
