import { describe, expect, it } from 'vitest';
import { BoundedLineSplitter, encodeLine } from './ndjson.ts';

function split(chunks: (string | Buffer)[], max = 10) {
  const lines: string[] = [];
  const dropped: number[] = [];
  const s = new BoundedLineSplitter(
    max,
    (l) => lines.push(l),
    (n) => dropped.push(n),
  );
  for (const c of chunks) s.push(typeof c === 'string' ? Buffer.from(c) : c);
  s.end();
  return { lines, dropped };
}

describe('BoundedLineSplitter', () => {
  it('joins lines cut across chunks, skips blank lines, strips CR, keeps a last line without newline', () => {
    expect(split(['ab', 'c\nde', 'f\r\n\n  \ng', 'h']).lines).toEqual(['abc', 'def', 'gh']);
  });

  it('keeps a multi-byte character cut between two chunks', () => {
    const bytes = Buffer.from('añb\n');
    expect(split([bytes.subarray(0, 2), bytes.subarray(2)]).lines).toEqual(['añb']);
  });

  it('drops a line over the limit whole, reports its size, and reads on at the next newline', () => {
    const { lines, dropped } = split(['ok\n0123456', '789ABCDEF', 'GH\nfine\n', '0123456789\n']);
    expect(lines).toEqual(['ok', 'fine', '0123456789']);
    expect(dropped).toEqual([18]);
  });

  it('never holds more than the limit of an endless line', () => {
    const lines: string[] = [];
    const dropped: number[] = [];
    const s = new BoundedLineSplitter(
      1024,
      (l) => lines.push(l),
      (n) => dropped.push(n),
    );
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 1000; i++) s.push(chunk);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 * 1024 * 1024);
    s.push(Buffer.from('\nafter\n'));
    expect(dropped).toEqual([1000 * 64 * 1024]);
    expect(lines).toEqual(['after']);
  });
});

describe('encodeLine', () => {
  it('writes one line, and refuses a message over the limit', () => {
    expect(encodeLine({ type: 'log', text: 'a\nb' }, 100)).toBe('{"type":"log","text":"a\\nb"}\n');
    expect(() => encodeLine({ text: 'x'.repeat(100) }, 100)).toThrow(RangeError);
  });
});
