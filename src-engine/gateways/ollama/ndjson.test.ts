import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NdjsonLines } from './ndjson.ts';

function feed(bytes: Buffer, cuts: number[], max = 1 << 20): string[] {
  const lines = new NdjsonLines(max);
  const out: string[] = [];
  let from = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b)) {
    out.push(...lines.push(bytes.subarray(from, cut)));
    from = cut;
  }
  out.push(...lines.push(bytes.subarray(from)), ...lines.end());
  return out;
}

describe('NdjsonLines', () => {
  it('gives the same lines however the bytes are cut, multi-byte characters included', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: 'grapheme', maxLength: 20 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat()),
        (texts, rawCuts) => {
          const wire = Buffer.from(texts.map((t) => `${JSON.stringify({ t })}\n`).join(''));
          const cuts = rawCuts.map((c) => c % (wire.length + 1));
          expect(feed(wire, cuts).map((l) => (JSON.parse(l) as { t: string }).t)).toEqual(texts);
        },
      ),
    );
  });

  it('skips blank lines, accepts \\r\\n and a last line without a newline', () => {
    expect(feed(Buffer.from('{"a":1}\r\n\n  \n{"b":2}'), [3, 9])).toEqual(['{"a":1}', '{"b":2}']);
  });

  it('refuses a line longer than its limit instead of buffering it', () => {
    const lines = new NdjsonLines(16);
    expect(() => lines.push(Buffer.from('x'.repeat(17)))).toThrow(RangeError);
  });
});
