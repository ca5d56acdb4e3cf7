import type { z } from 'zod';
import type { Logger } from '../../logger.ts';
import {
  OllamaChatResponseSchema,
  OllamaErrorSchema,
  OllamaPsSchema,
  OllamaTagsSchema,
  OllamaVersionSchema,
  type OllamaChatChunk,
  type OllamaChatFinal,
  type OllamaChatRequest,
  type OllamaMessage,
  type OllamaPs,
  type OllamaTags,
  type OllamaToolCall,
} from '../../contracts/ai.ts';
import { NdjsonLines } from './ndjson.ts';
import { AiServiceError, ServiceCall, clip, safeJson } from './service-call.ts';

export const DEFAULT_OLLAMA_TIMEOUT_MS = 120_000;
const MAX_LINE_BYTES = 1 << 20;
const MAX_ANSWER_BYTES = 64 << 20;
const MAX_ERROR_BYTES = 64 << 10;

export interface OllamaClientOptions {
  /** e.g. `http://127.0.0.1:11434` (`OLLAMA_URL`). */
  baseUrl: string;
  /**
   * Longest silence accepted: until the answer starts (a cold model load counts) and between two
   * chunks. Not a limit on the whole answer — a run's own timeout is the caller's.
   */
  timeoutMs?: number;
  log?: Logger;
}

export interface ChatCallOptions {
  /** Cancels the call (user cancel, budget spent); the call then fails with kind `aborted`. */
  signal?: AbortSignal;
  /**
   * Called for each chunk as it arrives, the final `done` chunk included. Ollama sends about one
   * token per content chunk, so counting calls tracks spending; abort `signal` to stop. A throw
   * here stops the call and is rethrown as is.
   */
  onChunk?: (chunk: OllamaChatChunk | OllamaChatFinal) => void;
}

export interface ChatResult {
  model: string;
  /** The assistant's whole answer: content joined, tool calls gathered from every chunk. */
  message: OllamaMessage & { role: 'assistant' };
  /** `stop`, `length` (hit `num_predict`/context), `load`…; absent on old servers. */
  doneReason: string | undefined;
  /** Tokens read (the prompt) and written (the answer), from the final chunk; 0 when Ollama omits them. */
  promptEvalCount: number;
  evalCount: number;
  totalDurationNs: number;
  /** Chunks received before the final one (0 when not streaming). */
  chunks: number;
}

export interface OllamaClient {
  chat(req: OllamaChatRequest, opts?: ChatCallOptions): Promise<ChatResult>;
  /** Installed models (`GET /api/tags`). */
  tags(opts?: { signal?: AbortSignal }): Promise<OllamaTags>;
  /** Models loaded in memory (`GET /api/ps`). */
  ps(opts?: { signal?: AbortSignal }): Promise<OllamaPs>;
  /** The server's version (`GET /api/version`); a cheap liveness check. */
  version(opts?: { signal?: AbortSignal }): Promise<string>;
}

/** A typed client of Ollama's native API (`/api/*`), streaming chat as NDJSON. */
export function createOllamaClient(options: OllamaClientOptions): OllamaClient {
  const timeoutMs = options.timeoutMs ?? DEFAULT_OLLAMA_TIMEOUT_MS;
  const log = options.log;

  function open(signal: AbortSignal | undefined): ServiceCall {
    return new ServiceCall({ service: 'ollama', baseUrl: options.baseUrl, timeoutMs, signal });
  }

  /** Ollama answers every error as `{"error": "..."}`; 404 on a chat means the model is not installed. */
  async function failure(call: ServiceCall, res: Response, model?: string): Promise<AiServiceError> {
    const body = await call.text(res, MAX_ERROR_BYTES).catch(() => '');
    const parsed = OllamaErrorSchema.safeParse(safeJson(body));
    const said = clip(parsed.success ? parsed.data.error : body || res.statusText);
    if (res.status === 404 && model !== undefined) {
      return call.error(
        'model_not_found',
        `The model "${model}" is not installed in Ollama. Install it with \`ollama pull ${model}\` or choose another model.`,
        404,
      );
    }
    if (res.status >= 500)
      return call.error('server', `Ollama failed (HTTP ${res.status}): ${said}`, res.status);
    return call.error(
      'invalid_request',
      `Ollama refused the request (HTTP ${res.status}): ${said}`,
      res.status,
    );
  }

  async function getJson<S extends z.ZodType>(
    path: string,
    schema: S,
    what: string,
    signal: AbortSignal | undefined,
  ): Promise<z.output<S>> {
    const call = open(signal);
    try {
      const res = await call.fetch(path, { method: 'GET' });
      if (!res.ok) throw await failure(call, res);
      return await call.json(res, schema, what);
    } catch (err) {
      throw call.classify(err);
    } finally {
      call.finish();
    }
  }

  async function chat(req: OllamaChatRequest, opts: ChatCallOptions = {}): Promise<ChatResult> {
    const call = open(opts.signal);
    const stream = req.stream ?? true;
    const started = Date.now();
    try {
      const res = await call.fetch('/api/chat', {
        method: 'POST',
        body: { ...req, stream },
        accept: stream ? 'application/x-ndjson' : 'application/json',
      });
      if (!res.ok) throw await failure(call, res, req.model);
      const assembler = new ChatAssembler(call);
      if (stream) {
        const lines = new NdjsonLines(MAX_LINE_BYTES, (max) =>
          call.error('bad_response', `Ollama sent a line longer than ${max} bytes.`),
        );
        const take = (line: string): void => {
          assembler.take(line, opts.onChunk);
          // A budget spent on this very chunk must stop the call even if the rest is already buffered.
          if (opts.signal?.aborted) throw call.classify(opts.signal.reason);
        };
        for await (const chunk of call.chunks(res, MAX_ANSWER_BYTES)) {
          for (const line of lines.push(chunk)) take(line);
          if (assembler.final) break;
        }
        for (const line of lines.end()) take(line);
      } else {
        assembler.take(await call.text(res, MAX_ANSWER_BYTES), opts.onChunk);
      }
      const result = assembler.result();
      log?.debug(
        {
          model: req.model,
          promptEvalCount: result.promptEvalCount,
          evalCount: result.evalCount,
          toolCalls: result.message.tool_calls?.length ?? 0,
          ms: Date.now() - started,
        },
        'ollama chat done',
      );
      return result;
    } catch (err) {
      // Our failures are all AiServiceErrors by now; anything else came from `onChunk` and goes back as is.
      if (err instanceof AiServiceError && err.kind !== 'aborted') {
        log?.warn({ model: req.model, kind: err.kind, httpStatus: err.httpStatus }, 'ollama chat failed');
      }
      throw err;
    } finally {
      call.finish();
    }
  }

  return {
    chat,
    tags: (o = {}) => getJson('/api/tags', OllamaTagsSchema, 'a model list', o.signal),
    ps: (o = {}) => getJson('/api/ps', OllamaPsSchema, 'a running-model list', o.signal),
    version: async (o = {}) =>
      (await getJson('/api/version', OllamaVersionSchema, 'a version', o.signal)).version,
  };
}

/** Joins streamed chunks into one answer; a `{error}` line in the stream fails the call. */
class ChatAssembler {
  final: OllamaChatFinal | undefined;
  private model = '';
  private content = '';
  private thinking = '';
  private readonly toolCalls: OllamaToolCall[] = [];
  private chunks = 0;

  constructor(private readonly call: ServiceCall) {}

  take(line: string, onChunk: ChatCallOptions['onChunk']): void {
    if (this.final) throw this.call.error('bad_response', 'Ollama sent more after its final chunk.');
    const value = safeJson(line);
    if (value === undefined)
      throw this.call.error('bad_response', `Ollama sent a line that is not JSON: ${clip(line, 120)}`);
    const error = OllamaErrorSchema.safeParse(value);
    if (error.success) {
      throw this.call.error(
        'stream_error',
        `Ollama stopped in the middle of the answer: ${clip(error.data.error)}`,
      );
    }
    const chunk = this.call.check(value, OllamaChatResponseSchema, 'a chat chunk');
    this.model = chunk.model;
    if (chunk.message) this.add(chunk.message);
    if (chunk.done) this.final = chunk;
    else this.chunks += 1;
    onChunk?.(chunk);
  }

  result(): ChatResult {
    const final = this.final;
    if (!final) throw this.call.error('bad_response', 'Ollama ended the answer without its final chunk.');
    const message: ChatResult['message'] = { role: 'assistant', content: this.content };
    if (this.thinking) message.thinking = this.thinking;
    if (this.toolCalls.length > 0) message.tool_calls = this.toolCalls;
    return {
      model: this.model,
      message,
      doneReason: final.done_reason,
      promptEvalCount: final.prompt_eval_count ?? 0,
      evalCount: final.eval_count ?? 0,
      totalDurationNs: final.total_duration ?? 0,
      chunks: this.chunks,
    };
  }

  private add(message: OllamaMessage): void {
    this.content += message.content;
    if (message.thinking) this.thinking += message.thinking;
    if (message.tool_calls) this.toolCalls.push(...message.tool_calls);
  }
}
