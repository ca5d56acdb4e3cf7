import type { Logger } from '../logger.ts';
import type { CageLogRecord, CageLogStream } from '../contracts/cage.ts';

/**
 * Receives each record of a run, in order. Returning a promise applies backpressure: the engine
 * stops reading the cage's output until it settles, so a slow consumer (a database, a socket)
 * slows the runner down instead of growing a buffer.
 */
export type CageLogHandler = (record: CageLogRecord) => void | Promise<void>;

/** Longest text of one record; longer texts are cut (a record is one line of a terminal view). */
export const MAX_RECORD_CHARS = 65_536;

export interface FlowControl {
  pause(): void;
  resume(): void;
}

const clip = (text: string): string =>
  text.length > MAX_RECORD_CHARS ? `${text.slice(0, MAX_RECORD_CHARS)}…` : text;

/** Numbers a run's records, caps how many are kept, and turns a slow consumer into backpressure. */
export class LogSink {
  private seq = 0;
  private droppedCount = 0;
  private pending = 0;
  private idle: (() => void)[] = [];
  private warned = false;
  /** The limit line is out: only milestones pass from now on. */
  private limited = false;

  constructor(
    private readonly runId: string,
    private readonly handler: CageLogHandler | undefined,
    private readonly maxRecords: number,
    private readonly clock: () => number,
    private readonly flow: FlowControl,
    private readonly log: Logger,
  ) {}

  get records(): number {
    return this.seq;
  }

  get dropped(): number {
    return this.droppedCount;
  }

  /** The consumer still has records to take (the cage's output is paused meanwhile). */
  get busy(): boolean {
    return this.pending > 0;
  }

  emit(stream: CageLogStream, text: string): void {
    if (this.limited) {
      this.droppedCount += 1;
      return;
    }
    if (this.seq >= this.maxRecords) {
      // One record says why the log stops here; the run itself goes on.
      this.limited = true;
      this.deliver(
        'engine',
        `log limit reached (${this.maxRecords} records): further output is not recorded, only how the run ends`,
      );
      this.droppedCount += 1;
      return;
    }
    this.deliver(stream, clip(text));
  }

  /**
   * An engine note on the run's course (created, cancel, stop, result, removal, end): each comes at
   * most once a run, so they pass the limit, and a cut log still says how its run ended.
   */
  milestone(text: string): void {
    this.deliver('engine', clip(text));
  }

  /** Resolves when every record handed out so far has been taken by the consumer. */
  drained(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private deliver(stream: CageLogStream, text: string): void {
    if (!this.handler) {
      this.seq += 1;
      return;
    }
    const record: CageLogRecord = { runId: this.runId, seq: ++this.seq, ts: this.clock(), stream, text };
    try {
      const done = this.handler(record);
      if (done && typeof done.then === 'function') this.wait(done);
    } catch (err) {
      this.consumerFailed(err);
    }
  }

  private wait(done: Promise<void>): void {
    if (this.pending++ === 0) this.flow.pause();
    const settle = (): void => {
      if (--this.pending > 0) return;
      this.flow.resume();
      for (const resolve of this.idle.splice(0)) resolve();
    };
    done.then(settle, (err: unknown) => {
      this.consumerFailed(err);
      settle();
    });
  }

  /** A failing consumer must not fail the run: the cage is still contained and still charged. */
  private consumerFailed(err: unknown): void {
    if (this.warned) return;
    this.warned = true;
    this.log.warn(
      { err, runId: this.runId },
      'cage log consumer failed; later failures of this run are not logged',
    );
  }
}
