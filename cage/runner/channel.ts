import {
  CageCancelSchema,
  CageLlmResponseSchema,
  CageTaskSchema,
  MAX_LINE_BYTES,
  type CageChatMessage,
  type CageLlmResponse,
  type CageTask,
  type CageToolSchema,
  type RunnerMessage,
} from '../../src-engine/contracts/cage.ts';
import { BoundedLineSplitter, encodeLine, parseJsonLine, preview } from '../../src-engine/cage/ndjson.ts';

const LOG_TEXT_MAX = 16_384;

/**
 * The runner's end of the NDJSON protocol: one task in, model answers in, a cancel at any time;
 * lines out through `write`. Anything unexpected from stdin is logged and ignored.
 */
export class Channel {
  readonly task: Promise<CageTask>;
  /** Aborted by a `cancel` line or by stdin closing (the engine is gone). */
  readonly stop = new AbortController();
  private gotTask: ((task: CageTask) => void) | undefined;
  private pending: { requestId: string; resolve: (r: CageLlmResponse) => void } | undefined;
  private nextRequest = 1;
  private readonly lines: BoundedLineSplitter;

  constructor(private readonly write: (line: string) => void) {
    this.task = new Promise((resolve) => (this.gotTask = resolve));
    this.lines = new BoundedLineSplitter(
      MAX_LINE_BYTES,
      (line) => this.receive(line),
      (bytes) => this.log('warn', `ignored an input line of ${bytes} bytes (limit ${MAX_LINE_BYTES})`),
    );
  }

  /** Feed stdin's bytes here. */
  push(chunk: Buffer): void {
    this.lines.push(chunk);
  }

  /** stdin ended: whatever is running stops; nobody is left to answer. */
  end(): void {
    this.lines.end();
    if (!this.stop.signal.aborted) this.stop.abort(new Error('the engine closed stdin'));
  }

  send(message: RunnerMessage): void {
    this.write(encodeLine(message, MAX_LINE_BYTES));
  }

  log(level: 'debug' | 'info' | 'warn' | 'error', text: string): void {
    this.send({
      type: 'log',
      level,
      text: text.length > LOG_TEXT_MAX ? `${text.slice(0, LOG_TEXT_MAX - 1)}…` : text,
    });
  }

  /** Asks the engine for the model's next message; rejects when the run is stopped meanwhile. */
  request(messages: CageChatMessage[], tools: CageToolSchema[]): Promise<CageLlmResponse> {
    const signal = this.stop.signal;
    if (signal.aborted) return Promise.reject(signal.reason);
    const requestId = `r${this.nextRequest++}`;
    // Throws a RangeError when the conversation outgrew one line; the caller ends the run.
    this.send({ type: 'llm_request', requestId, messages, tools });
    return new Promise((resolve, reject) => {
      const onStop = (): void => {
        this.pending = undefined;
        reject(signal.reason);
      };
      signal.addEventListener('abort', onStop, { once: true });
      this.pending = {
        requestId,
        resolve: (r) => {
          signal.removeEventListener('abort', onStop);
          this.pending = undefined;
          resolve(r);
        },
      };
    });
  }

  private receive(line: string): void {
    const value = parseJsonLine(line);
    const type = (value as { type?: unknown } | undefined)?.type;
    if (type === 'task') return this.onTask(value, line);
    if (type === 'llm_response') return this.onResponse(value, line);
    if (type === 'cancel') {
      const cancel = CageCancelSchema.safeParse(value);
      const reason = cancel.success && cancel.data.reason ? cancel.data.reason : 'cancelled by the engine';
      if (!this.stop.signal.aborted) this.stop.abort(new CancelledError(reason));
      return;
    }
    this.log('warn', `ignored an input line that is not a protocol message: ${preview(line)}`);
  }

  private onTask(value: unknown, line: string): void {
    const parsed = CageTaskSchema.safeParse(value);
    if (!parsed.success || !this.gotTask) {
      this.log('warn', `ignored ${this.gotTask ? 'an invalid' : 'a second'} task: ${preview(line)}`);
      return;
    }
    this.gotTask(parsed.data);
    this.gotTask = undefined;
  }

  private onResponse(value: unknown, line: string): void {
    const parsed = CageLlmResponseSchema.safeParse(value);
    if (!parsed.success || parsed.data.requestId !== this.pending?.requestId) {
      this.log('warn', `ignored an unexpected llm_response: ${preview(line)}`);
      return;
    }
    this.pending.resolve(parsed.data);
  }
}

/** The engine asked the run to stop. */
export class CancelledError extends Error {
  override readonly name = 'CancelledError';
}
