import { describe, expect, it } from 'vitest';
import { formatClock, formatCredits, formatDuration, formatPercent } from '../../src-renderer/src/format.ts';

describe('formatCredits (micro-credits, exact)', () => {
  it.each([
    [0, '0.00', '0,00'],
    [50_000, '0.05', '0,05'],
    [1_500_000, '1.50', '1,50'],
    [12_345_670, '12.34567', '12,34567'],
    [1, '0.000001', '0,000001'],
    [-2_000_000, '−2.00', '−2,00'],
    [1_234_567_000_000, '1,234,567.00', '1.234.567,00'],
    [9_007_199_254_740_991, '9,007,199,254.740991', '9.007.199.254,740991'],
  ])('%d → %s / %s', (micro, en, es) => {
    expect(formatCredits(micro, 'en')).toBe(en);
    expect(formatCredits(micro, 'es')).toBe(es);
  });

  it('shows a dash for a value that is not an exact integer', () => {
    expect(formatCredits(0.5, 'en')).toBe('—');
  });

  it('formats percentages and durations per language', () => {
    expect(formatPercent(0.851, 'en')).toBe('85%');
    expect(formatPercent(0.851, 'es')).toMatch(/^85\s%$/);
    expect(formatDuration(42, 'en')).toBe('42 sec');
    expect(formatDuration(7200, 'es')).toBe('2 h');
  });
});

describe('formatClock', () => {
  it('says the time of day on the given clock, 24-hour, zero-padded', () => {
    const at = Date.UTC(2026, 10, 20, 12, 0, 5);
    expect(formatClock(at, 'America/Mexico_City')).toBe('06:00:05');
    expect(formatClock(at, 'Europe/Madrid')).toBe('13:00:05');
    expect(formatClock(Date.UTC(2026, 10, 20, 23, 59, 59), 'UTC')).toBe('23:59:59');
    expect(formatClock(Date.UTC(2026, 10, 21, 0, 0, 1), 'UTC')).toBe('00:00:01');
  });
});
