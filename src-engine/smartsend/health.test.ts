import { describe, expect, it } from 'vitest';
import {
  HEALTH_REASON,
  readHealthReason,
  SmartSendSettingsSchema,
  type InstanceState,
} from '../contracts/smartsend.ts';
import { transitionHealth, type HealthSignal } from './health.ts';
import { dailyCapAt, nextSlot, pacingContext } from './pacing.ts';
import { initialInstanceState } from './state.ts';
import { DAY_MS, HOUR_MS, MINUTE_MS } from './time-zone.ts';
import { warmupCap, warmupDay, warmupStepBack } from './warmup.ts';

const settings = SmartSendSettingsSchema.parse({ dailyCap: 800 });
const ctx = pacingContext(settings, 'America/New_York');
const T0 = Date.parse('2026-06-01T14:00:00Z'); // 10:00 EDT
const make = (warmupDay: number) =>
  initialInstanceState({ instanceId: 'i1', orgId: 'o1', warmupDay }, T0, ctx.zone, settings);

/** Feeds signals in order, one a second; the final state and the events. */
function feed(state: InstanceState, signals: HealthSignal[], start = T0) {
  let s = state;
  const events = [];
  for (const [i, signal] of signals.entries()) {
    const t = transitionHealth(s, signal, start + i * 1000, ctx);
    s = t.state;
    if (t.event) events.push(t.event);
  }
  return { state: s, events };
}
const times = <T>(n: number, v: T): T[] => Array.from({ length: n }, () => v);

describe('warm-up', () => {
  it('ramps the daily cap by warm-up day: 50, 200, 500, then the configured cap', () => {
    expect([1, 2, 3, 5, 6, 10, 11, 40].map((d) => warmupCap(settings.warmup, d))).toEqual([
      50,
      50,
      200,
      200,
      500,
      500,
      null,
      null,
    ]);
    const s = make(1);
    const caps = Array.from({ length: 12 }, (_, d) => dailyCapAt(s, T0 + d * DAY_MS, ctx));
    expect(caps).toEqual([50, 50, 200, 200, 200, 500, 500, 500, 500, 500, 800, 800]);
    // An instance's own cap bounds the ramp too.
    expect(dailyCapAt({ ...s, dailyCap: 120 }, T0 + 6 * DAY_MS, ctx)).toBe(120);
  });

  it('counts warm-up days in local days, also over a 23-hour DST day', () => {
    const start = Date.parse('2026-03-07T23:30:00-05:00');
    expect(warmupDay(start, Date.parse('2026-03-08T23:59:00-04:00'), ctx.zone)).toBe(2);
    expect(warmupDay(start, Date.parse('2026-03-09T00:00:00-04:00'), ctx.zone)).toBe(3);
  });

  it('moves back to the first day of the previous step after an incident', () => {
    const dayAfter = (day: number) =>
      warmupDay(warmupStepBack(make(day).warmupStartedAt, T0, ctx.zone, settings.warmup), T0, ctx.zone);
    expect([1, 2, 3, 5, 6, 7, 10].map(dayAfter)).toEqual([1, 1, 1, 1, 3, 3, 3]);
  });

  it('starts new instances on the given day; past the schedule they are ACTIVE at once', () => {
    expect(make(1)).toMatchObject({ health: 'WARMUP', warmupCompletedAt: null });
    expect(warmupDay(make(4).warmupStartedAt, T0, ctx.zone)).toBe(4);
    expect(make(11)).toMatchObject({ health: 'ACTIVE', warmupCompletedAt: T0 });
  });

  it('becomes ACTIVE on the first tick after the schedule', () => {
    const s = make(10);
    expect(transitionHealth(s, { kind: 'tick' }, T0 + 13 * HOUR_MS, ctx).event).toBeNull(); // 23:00, day 10
    const t = transitionHealth(s, { kind: 'tick' }, T0 + 14 * HOUR_MS, ctx); // midnight: day 11
    expect(t.event).toEqual({
      type: 'instance.health',
      instanceId: 'i1',
      orgId: 'o1',
      from: 'WARMUP',
      to: 'ACTIVE',
      reason: 'warm-up completed',
      ts: T0 + 14 * HOUR_MS,
    });
    expect(t.state).toMatchObject({
      health: 'ACTIVE',
      warmupCompletedAt: T0 + 14 * HOUR_MS,
      healthReason: 'warm-up completed',
    });
  });
});

describe('health state machine', () => {
  it('throttles an ACTIVE instance on a rate-overlimit answer: half caps, a rest, a cooldown', () => {
    const s = make(11);
    const t = transitionHealth(s, { kind: 'rate-limited' }, T0, ctx);
    expect(t.event).toMatchObject({ from: 'ACTIVE', to: 'THROTTLED', reason: 'rate-overlimit answer' });
    expect(t.state.throttledUntil).toBe(T0 + 2 * HOUR_MS);
    expect(dailyCapAt(t.state, T0, ctx)).toBe(400);
    expect(nextSlot(t.state, T0, ctx)).toBe(T0 + 5 * MINUTE_MS);
    // Back to ACTIVE on the first tick after the cooldown, not before.
    expect(transitionHealth(t.state, { kind: 'tick' }, T0 + 2 * HOUR_MS - 1, ctx).event).toBeNull();
    const back = transitionHealth(t.state, { kind: 'tick' }, T0 + 2 * HOUR_MS, ctx);
    expect(back.event).toMatchObject({ from: 'THROTTLED', to: 'ACTIVE', reason: 'cooldown over' });
    expect(dailyCapAt(back.state, T0 + 2 * HOUR_MS, ctx)).toBe(800);
  });

  it('throttles on the third error ack in the window, whatever the ratio', () => {
    const acks: HealthSignal[] = [{ kind: 'ack-error' }, ...times(8, { kind: 'send-ok' } as const)];
    const two = feed(make(11), [...acks, { kind: 'ack-error' }]);
    expect(two.events).toEqual([]);
    const three = feed(two.state, [{ kind: 'ack-error' }]);
    expect(three.events.map((e) => e.reason)).toEqual(['3 error acks in the last 11 outcomes']);
    expect(three.state.outcomes).toBe('');
  });

  it('throttles on a failure ratio of 30 % once the window holds 10 outcomes, and forgets old ones', () => {
    const fail: HealthSignal = { kind: 'send-failed' };
    const ok: HealthSignal = { kind: 'send-ok' };
    expect(feed(make(11), [fail, fail, fail, ...times(6, ok)]).events).toEqual([]); // 9 samples
    expect(feed(make(11), [fail, fail, fail, ...times(7, ok)]).events.map((e) => e.reason)).toEqual([
      'failure ratio 0.30 over the last 10 outcomes',
    ]);
    expect(feed(make(11), [fail, fail, ...times(8, ok)]).events).toEqual([]);
    // The window keeps the last 20 outcomes: the two early failures slid out of it.
    const slid = feed(make(11), [fail, fail, ...times(25, ok), fail, fail, fail, ok, ok, ok, ok]);
    expect(slid.events).toEqual([]);
    expect(slid.state.outcomes).toBe(`${'o'.repeat(13)}fffoooo`);
  });

  it('extends the cooldown on a new sign while THROTTLED, without a new event', () => {
    const first = transitionHealth(make(11), { kind: 'rate-limited' }, T0, ctx);
    const again = transitionHealth(first.state, { kind: 'rate-limited' }, T0 + HOUR_MS, ctx);
    expect(again.event).toBeNull();
    expect(again.state.throttledUntil).toBe(T0 + 3 * HOUR_MS);
    expect(again.state.healthChangedAt).toBe(T0);
  });

  it('treats a throttle in warm-up as an incident: steps back, and returns to WARMUP after the cooldown', () => {
    const s = make(7);
    const t = transitionHealth(s, { kind: 'rate-limited' }, T0, ctx);
    expect(t.event).toMatchObject({ from: 'WARMUP', to: 'THROTTLED' });
    expect(warmupDay(t.state.warmupStartedAt, T0, ctx.zone)).toBe(3);
    expect(dailyCapAt(t.state, T0, ctx)).toBe(100); // 200 on day 3, halved
    const back = transitionHealth(t.state, { kind: 'tick' }, T0 + 2 * HOUR_MS, ctx);
    expect(back.event).toMatchObject({
      from: 'THROTTLED',
      to: 'WARMUP',
      reason: 'cooldown over, warm-up continues',
    });
    expect(back.state.warmupCompletedAt).toBeNull();
  });

  it('bans on a close with 401, 402, 403 or 406, or a logout, from any state; other closes change nothing', () => {
    const throttled = transitionHealth(make(11), { kind: 'rate-limited' }, T0, ctx).state;
    for (const s of [make(1), make(11), throttled]) {
      for (const code of [401, 402, 403, 406]) {
        const t = transitionHealth(s, { kind: 'connection', state: 'close', statusReason: code }, T0, ctx);
        expect(t.event).toMatchObject({
          from: s.health,
          to: 'BANNED',
          reason: `connection closed with ${code}`,
        });
      }
      expect(transitionHealth(s, { kind: 'logged-out' }, T0, ctx).event).toMatchObject({
        to: 'BANNED',
        reason: 'logged out',
      });
      for (const code of [408, 428, 440, 500, 515, null, undefined]) {
        expect(
          transitionHealth(s, { kind: 'connection', state: 'close', statusReason: code }, T0, ctx).event,
        ).toBeNull();
      }
    }
  });

  it('keeps a BANNED instance banned until it connects again, then warms up from day 1', () => {
    const banned = transitionHealth(make(11), { kind: 'logged-out' }, T0, ctx).state;
    for (const signal of [
      { kind: 'tick' },
      { kind: 'send-ok' },
      { kind: 'rate-limited' },
      { kind: 'connection', state: 'connecting' },
    ] as HealthSignal[]) {
      expect(transitionHealth(banned, signal, T0 + DAY_MS, ctx)).toEqual({ state: banned, event: null });
    }
    const back = transitionHealth(banned, { kind: 'connection', state: 'open' }, T0 + DAY_MS, ctx);
    expect(back.event).toMatchObject({ from: 'BANNED', to: 'WARMUP' });
    expect(back.state.warmupCompletedAt).toBeNull();
    expect(dailyCapAt(back.state, T0 + DAY_MS, ctx)).toBe(50);
  });

  it('writes reasons the UI can read back into a code and its figures', () => {
    for (const [code, v] of Object.entries(HEALTH_REASON)) {
      if (typeof v === 'string') expect(readHealthReason(v)).toEqual({ code });
    }
    expect(readHealthReason(HEALTH_REASON.closed(401))).toEqual({ code: 'closed', statusReason: 401 });
    expect(readHealthReason(HEALTH_REASON.errorAcks(3, 11))).toEqual({
      code: 'errorAcks',
      acks: 3,
      outcomes: 11,
    });
    expect(readHealthReason(HEALTH_REASON.failureRatio(0.3, 10))).toEqual({
      code: 'failureRatio',
      ratio: 0.3,
      outcomes: 10,
    });
    // Reasons written by something else (older rows, an operator) are not guessed at.
    expect(readHealthReason('connection closed with 401 today')).toBeNull();
    expect(readHealthReason('')).toBeNull();
  });
});
