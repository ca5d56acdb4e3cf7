/**
 * Splits a byte stream into NDJSON lines. Network chunks end anywhere: in the middle of a line or
 * of a multi-byte character, so bytes are decoded in streaming mode and the unfinished tail is kept
 * for the next chunk. A line longer than `maxLineBytes` is an error rather than unbounded memory.
 */
export class NdjsonLines {
  private readonly decoder = new TextDecoder('utf-8');
  private tail = '';

  constructor(
    private readonly maxLineBytes: number,
    private readonly tooLong: (max: number) => Error = (max) =>
      new RangeError(`a line is longer than ${max} bytes`),
  ) {}

  /** The complete, non-blank lines this chunk finishes. */
  push(chunk: Uint8Array): string[] {
    const text = this.tail + this.decoder.decode(chunk, { stream: true });
    const parts = text.split('\n');
    this.tail = parts.pop() ?? '';
    if (Buffer.byteLength(this.tail) > this.maxLineBytes) {
      throw this.tooLong(this.maxLineBytes);
    }
    return parts.map((line) => line.trim()).filter((line) => line !== '');
  }

  /** The last line, when the stream ends without a newline after it. */
  end(): string[] {
    const last = (this.tail + this.decoder.decode()).trim();
    this.tail = '';
    return last === '' ? [] : [last];
  }
}
