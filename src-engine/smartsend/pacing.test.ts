import { describe, expect, it } from 'vitest';
import {
  SmartSendSettingsSchema,
  type InstanceState,
  type SmartSendSettingsInput,
} from '../contracts/smartsend.ts';
import { composingMs, dailyCapAt, hourlyCapAt, nextSlot, pacingContext, recordSend } from './pacing.ts';
import { seededRandom, type Random } from './random.ts';
import { initialInstanceState } from './state.ts';
import { HOUR_MS, MINUTE_MS } from './time-zone.ts';

const T0 = Date.parse('2026-06-01T15:00:00Z');

function setup(input: SmartSendSettingsInput = {}, tz = 'UTC', warmupDay = 11) {
  const settings = SmartSendSettingsSchema.parse(input);
  const ctx = pacingContext(settings, tz);
  const state = initialInstanceState({ instanceId: 'i1', orgId: 'o1', warmupDay }, T0, ctx.zone, settings);
  return { settings, ctx, state };
}

/** Sends `n` messages as soon as allowed, from `now`; the send times and the final state. */
function run(
  state: InstanceState,
  n: number,
  ctx: ReturnType<typeof setup>['ctx'],
  random: Random,
  now = T0,
) {
  const times: number[] = [];
  let s = state;
  for (let i = 0; i < n; i++) {
    const t = nextSlot(s, now, ctx)!;
    times.push(t);
    s = recordSend(s, t, ctx, random);
  }
  return { times, state: s };
}

describe('pacing', () => {
  it('lets a new instance send at once, after its "composing" time; asking twice gives the same slot', () => {
    const { ctx, state } = setup();
    expect(nextSlot(state, T0, ctx, 1200)).toBe(T0 + 1200);
    const after = recordSend(state, T0, ctx, seededRandom(1));
    expect(nextSlot(after, T0, ctx)).toBe(nextSlot(after, T0, ctx));
    expect(nextSlot(after, T0, ctx)).toBe(after.notBefore);
  });

  it('spaces sends by gaps within the jitter bounds and pauses after bursts within theirs', () => {
    const { ctx, state } = setup({ hourlyCap: 100_000, dailyCap: 1_000_000 });
    const { times } = run(state, 2000, ctx, seededRandom(7));
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    const bursts: number[] = [];
    let runLength = 1;
    for (const g of gaps) {
      if (g <= 7000) {
        expect(g).toBeGreaterThanOrEqual(2000);
        runLength++;
      } else {
        expect(g).toBeGreaterThanOrEqual(5 * MINUTE_MS);
        expect(g).toBeLessThanOrEqual(15 * MINUTE_MS);
        bursts.push(runLength);
        runLength = 1;
      }
    }
    expect(Math.min(...bursts)).toBeGreaterThanOrEqual(20);
    expect(Math.max(...bursts)).toBeLessThanOrEqual(60);
    // The draws cover their ranges (uniform): not stuck at one end.
    const inBurst = gaps.filter((g) => g <= 7000);
    expect(Math.min(...inBurst)).toBeLessThan(2300);
    expect(Math.max(...inBurst)).toBeGreaterThan(6700);
    expect(Math.min(...bursts)).toBeLessThan(25);
    expect(Math.max(...bursts)).toBeGreaterThan(55);
  });

  it('waits for the next clock hour when the hour is full, and makes that wait a pause at least', () => {
    const { ctx, state } = setup({ hourlyCap: 5 });
    // Five sends from 15:00: the hour is full; the next may only go at 16:00.
    const { times, state: s } = run(state, 5, ctx, seededRandom(3));
    expect(times.at(-1)! - T0).toBeLessThan(HOUR_MS - 5 * MINUTE_MS);
    expect(nextSlot(s, T0, ctx)).toBe(T0 + HOUR_MS);
    expect(hourlyCapAt(s, T0, ctx)).toBe(5);
    // Full at 15:58: 16:00 is too soon after the last send, the break lasts the shortest pause.
    const late = run(state, 5, ctx, seededRandom(3), T0 + 58 * MINUTE_MS);
    const last = late.times.at(-1)!;
    expect(nextSlot(late.state, T0, ctx)).toBe(last + 5 * MINUTE_MS);
    // After a break the burst starts over.
    const next = recordSend(late.state, last + 5 * MINUTE_MS, ctx, seededRandom(4));
    expect(next.burstCount).toBe(1);
    expect(next.hourCount).toBe(1);
  });

  it('counts the daily cap in local days of the org and reopens at local midnight', () => {
    // Mexico City is UTC-6: 2026-06-01 local ends at 2026-06-02T06:00Z.
    const { ctx, state } = setup({ dailyCap: 3 }, 'America/Mexico_City');
    const { state: s } = run(state, 3, ctx, seededRandom(5));
    expect(s.dayCount).toBe(3);
    expect(dailyCapAt(s, T0, ctx)).toBe(3);
    expect(new Date(nextSlot(s, T0, ctx)!).toISOString()).toBe('2026-06-02T06:00:00.000Z');
    const nextDay = recordSend(s, Date.parse('2026-06-02T06:00:00Z'), ctx, seededRandom(6));
    expect(nextDay.dayCount).toBe(1);
  });

  it('never sends nor composes inside quiet hours: the first slot after them leaves room to compose', () => {
    const { ctx, state } = setup({ quietHours: { start: '21:00', end: '08:00' } }, 'Europe/Madrid');
    const night = Date.parse('2026-06-01T23:30:00+02:00');
    expect(new Date(nextSlot(state, night, ctx, 1500)!).toISOString()).toBe('2026-06-02T06:00:01.500Z');
    // A slot whose composing would start before 21:00 but end after is moved to the morning too.
    const edge = Date.parse('2026-06-01T20:59:59+02:00');
    expect(new Date(nextSlot(state, edge, ctx, 1500)!).toISOString()).toBe('2026-06-02T06:00:01.500Z');
    expect(nextSlot(state, edge - 1500, ctx, 1500)).toBe(edge);
  });

  it('halves the caps while THROTTLED, and reopens when the cooldown ends if that comes first', () => {
    const { ctx, state } = setup({ hourlyCap: 10 });
    const throttled: InstanceState = { ...state, health: 'THROTTLED', throttledUntil: T0 + 20 * MINUTE_MS };
    expect(hourlyCapAt(throttled, T0, ctx)).toBe(5);
    expect(dailyCapAt(throttled, T0, ctx)).toBe(500);
    expect(hourlyCapAt(throttled, T0 + 20 * MINUTE_MS, ctx)).toBe(10);
    const { times, state: s } = run(throttled, 5, ctx, seededRandom(9));
    expect(nextSlot(s, T0, ctx)).toBe(Math.max(T0 + 20 * MINUTE_MS, times.at(-1)! + 5 * MINUTE_MS));
  });

  it('never gives a BANNED instance a slot', () => {
    const { ctx, state } = setup();
    expect(nextSlot({ ...state, health: 'BANNED' }, T0, ctx)).toBeNull();
  });

  it('keeps counting the burst over an idle gap shorter than a pause', () => {
    const { ctx, state } = setup();
    const a = recordSend(state, T0, ctx, seededRandom(1));
    const b = recordSend(a, T0 + 2 * MINUTE_MS, ctx, seededRandom(2));
    expect([a.burstCount, b.burstCount]).toEqual([1, 2]);
    expect(b.burstTarget).toBe(a.burstTarget);
    const c = recordSend(b, T0 + 8 * MINUTE_MS, ctx, seededRandom(3));
    expect(c.burstCount).toBe(1);
  });

  it('refuses sends recorded out of order', () => {
    const { ctx, state } = setup();
    const a = recordSend(state, T0, ctx, seededRandom(1));
    expect(() => recordSend(a, T0 - 1, ctx, seededRandom(1))).toThrow(/before the last send/);
  });

  it('shows "composing" in proportion to the text, clamped, never longer than the shortest gap', () => {
    const { settings } = setup();
    expect(composingMs(0, settings)).toBe(800);
    expect(composingMs(30, settings)).toBe(1200);
    expect(composingMs(10_000, settings)).toBe(2000);
    const long = SmartSendSettingsSchema.parse({ presence: { msPerChar: 40, minMs: 800, maxMs: 8000 } });
    expect(composingMs(10_000, long)).toBe(2000);
  });
});
