import { AnsiParser, type Line } from './ansi.ts';

/** The default scrollback: enough for a long agent run, bounded so memory stays flat. */
export const DEFAULT_SCROLLBACK = 50_000;

/**
 * A terminal's content: a ring buffer of parsed lines (the oldest dropped past `capacity`) plus the
 * line still being written. Lines have absolute numbers that never change, so search results and
 * the scroll position survive old lines being dropped. Lives outside React; views subscribe.
 */
export class TerminalBuffer {
  private readonly ring: (Line | undefined)[];
  private start = 0;
  private count = 0;
  private pending = '';
  private pendingLine: Line | undefined;
  private readonly parser = new AnsiParser();
  private readonly listeners = new Set<() => void>();
  /** Bumped on every change; views compare it to know whether to repaint. */
  version = 0;
  /** How many lines were ever dropped from the top: the absolute number of the oldest line kept. */
  dropped = 0;

  constructor(readonly capacity = DEFAULT_SCROLLBACK) {
    this.ring = new Array<Line | undefined>(capacity);
  }

  /** Lines held, including the line still being written. */
  get length(): number {
    return this.count + (this.pending ? 1 : 0);
  }

  /** The absolute number after the last complete line: where an incremental search resumes. */
  get committedEnd(): number {
    return this.dropped + this.count;
  }

  /** The line at index `i` (0 = oldest held). */
  line(i: number): Line | undefined {
    if (i < 0) return undefined;
    if (i < this.count) return this.ring[(this.start + i) % this.capacity];
    if (i === this.count && this.pending) {
      this.pendingLine ??= this.parser.parse(this.pending, false);
      return this.pendingLine;
    }
    return undefined;
  }

  /** Appends raw output, which may hold several lines or part of one. */
  write(chunk: string): void {
    if (!chunk) return;
    const parts = chunk.split('\n');
    parts[0] = this.pending + parts[0];
    this.pending = parts.pop()!;
    this.pendingLine = undefined;
    for (const raw of parts) this.commit(raw);
    this.changed();
  }

  /** Appends whole lines (the common case for a log stream). */
  writeLines(lines: readonly string[]): void {
    if (lines.length === 0) return;
    if (this.pending) {
      this.commit(this.pending);
      this.pending = '';
      this.pendingLine = undefined;
    }
    for (const raw of lines) for (const one of raw.split('\n')) this.commit(one);
    this.changed();
  }

  clear(): void {
    this.dropped += this.count;
    this.start = 0;
    this.count = 0;
    this.ring.fill(undefined);
    this.pending = '';
    this.pendingLine = undefined;
    this.changed();
  }

  /** The plain text of every line held, for copying. */
  text(): string {
    const out: string[] = [];
    for (let i = 0; i < this.length; i++) out.push(this.line(i)!.text);
    return out.join('\n');
  }

  /**
   * Absolute numbers of the lines containing `query` (case-insensitive), from absolute line `from`
   * on: a caller that keeps its results only scans new lines.
   */
  search(query: string, from = this.dropped): number[] {
    const q = query.toLowerCase();
    const hits: number[] = [];
    if (!q) return hits;
    for (let i = Math.max(0, from - this.dropped); i < this.length; i++) {
      if (this.line(i)!.text.toLowerCase().includes(q)) hits.push(this.dropped + i);
    }
    return hits;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private commit(raw: string): void {
    const line = this.parser.parse(raw);
    if (this.count < this.capacity) {
      this.ring[(this.start + this.count) % this.capacity] = line;
      this.count++;
    } else {
      this.ring[this.start] = line;
      this.start = (this.start + 1) % this.capacity;
      this.dropped++;
    }
  }

  private changed(): void {
    this.version++;
    for (const l of this.listeners) l();
  }
}
