import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import { formatCredits, parseCredits } from './money.ts';

describe('decimal credits', () => {
  it('parses exactly, without float math', () => {
    expect(parseCredits('0.05')).toBe(50_000);
    expect(parseCredits('1')).toBe(1_000_000);
    expect(parseCredits('15.000001')).toBe(15_000_001);
    expect(parseCredits('0.1')).toBe(100_000);
    expect(parseCredits('-2.5')).toBe(-2_500_000);
    expect(parseCredits('+3')).toBe(3_000_000);
    expect(parseCredits('-0')).toBe(0);
    expect(parseCredits('007.10')).toBe(7_100_000);
    expect(parseCredits('999999999.999999')).toBe(999_999_999_999_999);
  });

  it.each(['0.0000001', '1e3', '', '.5', '1.', 'abc', '1,5', '0x10', '1000000001', 'NaN', '1 000'])(
    'refuses %j',
    (bad) => {
      expect(() => parseCredits(bad)).toThrow(AppError);
      try {
        parseCredits(bad);
      } catch (err) {
        expect((err as AppError).code).toBe('VALIDATION_ERROR');
      }
    },
  );

  it('formats as the shortest exact decimal', () => {
    expect(formatCredits(50_000)).toBe('0.05');
    expect(formatCredits(2_000_000)).toBe('2');
    expect(formatCredits(-1)).toBe('-0.000001');
    expect(formatCredits(0)).toBe('0');
    expect(formatCredits(199_000_000)).toBe('199');
  });

  it('round-trips every amount', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1e15, max: 1e15 }), (micro) => {
        expect(parseCredits(formatCredits(micro))).toBe(micro);
      }),
    );
  });
});
