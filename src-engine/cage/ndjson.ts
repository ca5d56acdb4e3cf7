/**
 * NDJSON framing for the cage protocol, used on both sides (the runner bundles this file).
 *
 * The other side is not trusted to behave: a line may be endless, so at most `maxBytes` of one
 * line are ever held; a longer line is dropped whole (reported with its size) and reading goes
 * on at the next newline, so one bad line never desynchronises the stream.
 */
export class BoundedLineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private dropping = false;
  private dropped = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly onLine: (line: string) => void,
    private readonly onOversize: (bytes: number) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      const piece = chunk.subarray(start, nl === -1 ? chunk.length : nl);
      this.take(piece, nl === -1);
      if (nl === -1) return;
      this.flush();
      start = nl + 1;
    }
  }

  /** The stream ended: a last line without a newline still counts. */
  end(): void {
    if (this.size > 0 || this.dropping) this.flush();
  }

  private take(piece: Buffer, kept: boolean): void {
    if (piece.length === 0) return;
    if (this.dropping) {
      this.dropped += piece.length;
    } else if (this.size + piece.length > this.maxBytes) {
      this.dropping = true;
      this.dropped = this.size + piece.length;
      this.parts = [];
      this.size = 0;
    } else {
      // A piece kept past this call is copied, so it does not pin the whole network chunk.
      this.parts.push(kept ? Buffer.from(piece) : piece);
      this.size += piece.length;
    }
  }

  private flush(): void {
    if (this.dropping) {
      const bytes = this.dropped;
      this.dropping = false;
      this.dropped = 0;
      this.onOversize(bytes);
      return;
    }
    let line = Buffer.concat(this.parts, this.size).toString('utf8');
    this.parts = [];
    this.size = 0;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.trim() !== '') this.onLine(line);
  }
}

/** One message as one line, or a RangeError when it would break the peer's line limit. */
export function encodeLine(message: unknown, maxBytes: number): string {
  const line = JSON.stringify(message);
  const bytes = Buffer.byteLength(line);
  if (bytes > maxBytes)
    throw new RangeError(`message of ${bytes} bytes exceeds the ${maxBytes}-byte line limit`);
  return `${line}\n`;
}

/** JSON.parse that answers undefined instead of throwing: garbage is expected on this channel. */
export function parseJsonLine(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

/** The first `max` characters of a line, for messages about it (a bad line may be huge). */
export function preview(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
}
