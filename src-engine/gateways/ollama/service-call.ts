import type { z } from 'zod';
import type { ErrorCode } from '../../contracts/errors.ts';
import { AppError, errorMessage } from '../../errors.ts';
import { serviceUrl } from '../../service-url.ts';

/** The local AI services the engine talks to over HTTP. */
export type AiService = 'ollama' | 'kokoro';

export const SERVICE_NAMES: Record<AiService, string> = { ollama: 'Ollama', kokoro: 'Kokoro' };

/**
 * What went wrong, in terms a caller can act on: a missing model is fixed by installing it, a
 * timeout or network error by checking the service, an abort was asked for by the caller.
 */
export type AiErrorKind =
  | 'model_not_found'
  | 'invalid_request'
  | 'server'
  | 'stream_error'
  | 'timeout'
  | 'network'
  | 'bad_response'
  | 'aborted';

const KIND_CODES: Record<AiErrorKind, ErrorCode> = {
  model_not_found: 'NOT_FOUND',
  invalid_request: 'VALIDATION_ERROR',
  server: 'UNAVAILABLE',
  stream_error: 'UNAVAILABLE',
  timeout: 'UNAVAILABLE',
  network: 'UNAVAILABLE',
  bad_response: 'UNAVAILABLE',
  aborted: 'INTERNAL_ERROR',
};

/** A failed call to Ollama or Kokoro; `message` is written for the user, `kind` for the code. */
export class AiServiceError extends AppError {
  constructor(
    readonly service: AiService,
    readonly kind: AiErrorKind,
    message: string,
    readonly httpStatus?: number,
    options?: { cause?: unknown },
  ) {
    super(KIND_CODES[kind], message, { service, kind, ...(httpStatus ? { httpStatus } : {}) });
    if (options && 'cause' in options) this.cause = options.cause;
  }
}

/** Service text that goes into a message: one line, bounded (it can echo a whole request). */
export function clip(text: string, max = 300): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

/** JSON or `undefined`: error bodies and stream lines are inspected before they are trusted. */
export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export interface ServiceCallOptions {
  service: AiService;
  baseUrl: string;
  /** Longest wait for the answer to start or for its next bytes: a stalled service fails, a slow one does not. */
  timeoutMs: number;
  /** The caller's cancel (a user cancel, a token budget): ends the call with kind `aborted`. */
  signal?: AbortSignal;
}

/**
 * One HTTP exchange with a local service: joins the caller's signal with an idle deadline that is
 * pushed back each time bytes arrive, and turns every failure into an {@link AiServiceError}.
 */
export class ServiceCall {
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private timedOut = false;
  private readonly onCallerAbort = (): void => this.controller.abort();

  constructor(private readonly opts: ServiceCallOptions) {
    this.signal = this.controller.signal;
    if (opts.signal?.aborted) this.controller.abort();
    else opts.signal?.addEventListener('abort', this.onCallerAbort, { once: true });
    this.touch();
  }

  get name(): string {
    return SERVICE_NAMES[this.opts.service];
  }

  /** The service is alive: restart the idle deadline. */
  touch(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort();
    }, this.opts.timeoutMs);
  }

  /** Stops the deadline and forgets the caller's signal; call once, whatever the outcome. */
  finish(): void {
    clearTimeout(this.timer);
    this.opts.signal?.removeEventListener('abort', this.onCallerAbort);
  }

  error(kind: AiErrorKind, message: string, httpStatus?: number, cause?: unknown): AiServiceError {
    return new AiServiceError(
      this.opts.service,
      kind,
      message,
      httpStatus,
      cause === undefined ? {} : { cause },
    );
  }

  async fetch(
    path: string,
    init: { method: 'GET' | 'POST'; body?: unknown; accept?: string },
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: init.accept ?? 'application/json' };
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    try {
      const res = await fetch(serviceUrl(this.opts.baseUrl, path), {
        method: init.method,
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal: this.signal,
      });
      this.touch();
      return res;
    } catch (err) {
      throw this.classify(err);
    }
  }

  /** The body's chunks as they arrive, each one pushing the deadline back; at most `maxBytes` in all. */
  async *chunks(res: Response, maxBytes: number): AsyncGenerator<Uint8Array> {
    if (!res.body) return;
    const reader = res.body.getReader();
    let total = 0;
    let ended = false;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        this.touch();
        total += value.byteLength;
        if (total > maxBytes)
          throw this.error('bad_response', `${this.name} sent an answer larger than ${maxBytes} bytes.`);
        yield value;
      }
      ended = true;
    } catch (err) {
      throw this.classify(err);
    } finally {
      // Leaving early (an error, a caller that stops reading) must drop the body and free the socket.
      if (!ended) await reader.cancel().catch(() => undefined);
    }
  }

  async bytes(res: Response, maxBytes: number): Promise<Buffer> {
    const parts: Uint8Array[] = [];
    for await (const chunk of this.chunks(res, maxBytes)) parts.push(chunk);
    return Buffer.concat(parts);
  }

  async text(res: Response, maxBytes: number): Promise<string> {
    return (await this.bytes(res, maxBytes)).toString('utf8');
  }

  /** A JSON answer checked against `schema`; anything else is `bad_response`. */
  async json<S extends z.ZodType>(
    res: Response,
    schema: S,
    what: string,
    maxBytes = 4 << 20,
  ): Promise<z.output<S>> {
    const text = await this.text(res, maxBytes);
    return this.parse(text, schema, what);
  }

  parse<S extends z.ZodType>(text: string, schema: S, what: string): z.output<S> {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw this.error('bad_response', `${this.name} sent ${what} that is not JSON: ${clip(text, 120)}`);
    }
    return this.check(value, schema, what);
  }

  /** An already parsed JSON value checked against `schema`; anything else is `bad_response`. */
  check<S extends z.ZodType>(value: unknown, schema: S, what: string): z.output<S> {
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'unknown shape';
      throw this.error('bad_response', `${this.name} sent ${what} in an unexpected shape (${where}).`);
    }
    return parsed.data;
  }

  /** Any failure as an AiServiceError, the caller's abort and our deadline told apart from the network. */
  classify(err: unknown): AiServiceError {
    if (err instanceof AiServiceError) return err;
    if (this.opts.signal?.aborted) {
      return this.error(
        'aborted',
        `The call to ${this.name} was cancelled.`,
        undefined,
        this.opts.signal.reason,
      );
    }
    if (this.timedOut) {
      return this.error(
        'timeout',
        `${this.name} did not answer within ${Math.round(this.opts.timeoutMs / 1000)} s at ${this.host()}.`,
      );
    }
    const code = networkCode(err);
    return this.error(
      'network',
      `Cannot reach ${this.name} at ${this.host()}${code ? ` (${code})` : ''}: ${errorMessage(err)}. Is it running?`,
      undefined,
      err,
    );
  }

  /** Host and port only: a base URL may carry credentials, which never go into a message. */
  private host(): string {
    try {
      return new URL(this.opts.baseUrl).host;
    } catch {
      return 'the configured address';
    }
  }
}

function networkCode(err: unknown): string | undefined {
  const cause = err instanceof Error ? (err.cause as { code?: unknown } | undefined) : undefined;
  return typeof cause?.code === 'string' ? cause.code : undefined;
}
