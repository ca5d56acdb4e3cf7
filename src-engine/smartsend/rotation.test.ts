import { describe, expect, it } from 'vitest';
import { SmartSendSettingsSchema, type InstanceState } from '../contracts/smartsend.ts';
import { pacingContext, recordSend } from './pacing.ts';
import { seededRandom } from './random.ts';
import { pickInstance, recipientKey } from './rotation.ts';
import { initialInstanceState } from './state.ts';
import { HOUR_MS } from './time-zone.ts';

const settings = SmartSendSettingsSchema.parse({ dailyCap: 3, quietHours: { start: '21:00', end: '08:00' } });
const ctx = pacingContext(settings, 'America/Bogota'); // UTC-5, no DST
const T0 = Date.parse('2026-06-01T10:00:00-05:00');
const instance = (id: string) =>
  initialInstanceState({ instanceId: id, orgId: 'o1', warmupDay: 11 }, T0, ctx.zone, settings);
/** The instance after `n` sends from T0 (each as soon as allowed). */
function busy(s: InstanceState, n: number): InstanceState {
  const random = seededRandom(n);
  let t = T0;
  for (let i = 0; i < n; i++) {
    s = recordSend(s, t, ctx, random);
    t = s.notBefore!;
  }
  return s;
}

describe('rotation', () => {
  it('balances by the earliest next slot and sticks the recipient to the pick', () => {
    const a = busy(instance('a'), 1);
    const b = instance('b');
    expect(pickInstance([a, b], undefined, T0, ctx)).toEqual({ instance: b, sendAt: T0, restick: true });
    expect(pickInstance([a, b], undefined, T0 + HOUR_MS, ctx)).toMatchObject({ instance: a, restick: true }); // tie: first
  });

  it('keeps the sticky instance while it is healthy and can send that day, even if another is sooner', () => {
    const a = busy(instance('a'), 1);
    const b = instance('b');
    expect(pickInstance([a, b], 'a', T0, ctx)).toEqual({ instance: a, sendAt: a.notBefore, restick: false });
  });

  it('moves the recipient when its instance is THROTTLED or BANNED', () => {
    const b = instance('b');
    for (const health of ['THROTTLED', 'BANNED'] as const) {
      const a: InstanceState = { ...instance('a'), health, throttledUntil: T0 + HOUR_MS };
      expect(pickInstance([a, b], 'a', T0, ctx)).toEqual({ instance: b, sendAt: T0, restick: true });
    }
  });

  it('moves the recipient when its instance has no capacity left that day', () => {
    const full = busy(instance('a'), 3); // daily cap 3 reached: next slot tomorrow 08:00
    const b = busy(instance('b'), 2);
    expect(pickInstance([full, b], 'a', T0, ctx)).toEqual({
      instance: b,
      sendAt: b.notBefore,
      restick: true,
    });
  });

  it('falls back to THROTTLED instances only when no healthy one is left, and never uses BANNED ones', () => {
    const throttled: InstanceState = { ...instance('a'), health: 'THROTTLED', throttledUntil: T0 + HOUR_MS };
    const banned: InstanceState = { ...instance('b'), health: 'BANNED' };
    expect(pickInstance([banned, throttled], undefined, T0, ctx)).toMatchObject({ instance: throttled });
    expect(pickInstance([banned, throttled], 'a', T0, ctx)).toMatchObject({
      instance: throttled,
      restick: false,
    });
    expect(pickInstance([banned], 'b', T0, ctx)).toBeNull();
    expect(pickInstance([], undefined, T0, ctx)).toBeNull();
  });

  it('knows a contact by its number, whatever the spelling', () => {
    expect(recipientKey('+52 1 (55) 1234-5678')).toBe('5215512345678');
    expect(recipientKey('5215512345678@s.whatsapp.net')).toBe('5215512345678');
    expect(recipientKey('12036302@g.us')).toBe('12036302@g.us');
  });
});
