import { describe, expect, it } from 'vitest';
import { cycleAt } from './cycle.ts';

const utc = (y: number, m: number, d: number, h = 0) => Date.UTC(y, m - 1, d, h);

describe('billing cycle = monthly anniversary of cycle_start (UTC)', () => {
  it('names the cycle after the month it starts in', () => {
    const anchor = utc(2026, 1, 10, 9);
    expect(cycleAt(anchor, utc(2026, 1, 10, 9))).toEqual({
      cycle: '2026-01',
      startsAt: anchor,
      endsAt: utc(2026, 2, 10, 9),
    });
    expect(cycleAt(anchor, utc(2026, 2, 10, 8)).cycle).toBe('2026-01');
    expect(cycleAt(anchor, utc(2026, 2, 10, 9)).cycle).toBe('2026-02');
    expect(cycleAt(anchor, utc(2026, 12, 31)).cycle).toBe('2026-12');
    expect(cycleAt(anchor, utc(2027, 1, 9)).cycle).toBe('2026-12');
  });

  it('clamps to the last day of short months and returns to the anchor day', () => {
    const anchor = utc(2026, 1, 31);
    expect(cycleAt(anchor, utc(2026, 2, 27))).toMatchObject({ cycle: '2026-01', endsAt: utc(2026, 2, 28) });
    expect(cycleAt(anchor, utc(2026, 2, 28))).toMatchObject({
      cycle: '2026-02',
      startsAt: utc(2026, 2, 28),
      endsAt: utc(2026, 3, 31),
    });
    expect(cycleAt(anchor, utc(2026, 4, 30)).startsAt).toBe(utc(2026, 4, 30));
    expect(cycleAt(utc(2027, 1, 31), utc(2028, 2, 29)).startsAt).toBe(utc(2028, 2, 29));
  });

  it('handles times before the anchor', () => {
    expect(cycleAt(utc(2026, 3, 15), utc(2026, 1, 20))).toMatchObject({
      cycle: '2026-01',
      startsAt: utc(2026, 1, 15),
      endsAt: utc(2026, 2, 15),
    });
  });

  it('every instant falls in exactly one cycle, cycles tile time', () => {
    const anchor = utc(2025, 5, 31, 23);
    let prev = cycleAt(anchor, anchor);
    for (let i = 0; i < 40; i++) {
      const next = cycleAt(anchor, prev.endsAt);
      expect(next.startsAt).toBe(prev.endsAt);
      expect(next.cycle).not.toBe(prev.cycle);
      expect(cycleAt(anchor, next.endsAt - 1)).toEqual(next);
      prev = next;
    }
  });
});
