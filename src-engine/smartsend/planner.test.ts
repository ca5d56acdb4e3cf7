import { beforeEach, describe, expect, it } from 'vitest';
import { manualClock } from '../../test/support/temp-database.ts';
import { SmartSendSettingsSchema, type InstanceHealthEvent } from '../contracts/smartsend.ts';
import { AppError } from '../errors.ts';
import { createSmartSend, type SendRequest, type SmartSend } from './planner.ts';
import { seededRandom } from './random.ts';
import { createMemoryState, initialInstanceState, type SmartSendState } from './state.ts';
import { DAY_MS, MINUTE_MS, timeZone } from './time-zone.ts';

const settings = SmartSendSettingsSchema.parse({});
const T0 = Date.parse('2026-06-01T15:00:00Z');
const TZ = 'Europe/Lisbon';

let clock: ReturnType<typeof manualClock>;
let state: SmartSendState;
let events: InstanceHealthEvent[];
let smartSend: SmartSend;

function addInstance(instanceId: string, warmupDay = 11, orgId = 'o1') {
  state.putInstance(
    initialInstanceState({ instanceId, orgId, warmupDay }, clock.now(), timeZone(TZ), settings),
  );
}
const msg = (n: number, over: Partial<SendRequest> = {}): SendRequest => ({
  messageId: `m${n}`,
  orgId: 'o1',
  instanceId: 'auto',
  recipient: `+351 91 000 ${String(n).padStart(4, '0')}`,
  textLength: 40,
  ...over,
});

beforeEach(() => {
  clock = manualClock(T0);
  state = createMemoryState({ o1: TZ, o2: TZ });
  events = [];
  smartSend = createSmartSend({
    state,
    settings,
    random: seededRandom(11),
    now: clock.now,
    events: { emit: (e) => events.push(e) },
  });
});

describe('SmartSend planner', () => {
  it('reserves one slot per message: planning again returns it unchanged', () => {
    addInstance('a');
    const first = smartSend.plan(msg(1))!;
    expect(first).toEqual({
      messageId: 'm1',
      orgId: 'o1',
      instanceId: 'a',
      mode: 'auto',
      recipient: '351910000001',
      sendAt: T0 + 1600,
      composingMs: 1600,
    });
    const before = state.instance('a');
    expect(smartSend.plan(msg(1))).toEqual(first);
    expect(state.instance('a')).toBe(before);
    // The next message gets the next slot, one gap later.
    const second = smartSend.plan(msg(2))!;
    expect(second.sendAt - first.sendAt).toBeGreaterThanOrEqual(2000);
    expect(second.sendAt - first.sendAt).toBeLessThanOrEqual(7000);
  });

  it('plans a fresh slot after the used one is released', () => {
    addInstance('a');
    const first = smartSend.plan(msg(1))!;
    clock.set(first.sendAt);
    smartSend.release('m1');
    expect(state.reservation('m1')).toBeUndefined();
    const retry = smartSend.plan(msg(1))!;
    expect(retry.sendAt).toBeGreaterThanOrEqual(first.sendAt + 2000);
  });

  it('re-plans a reservation that is stale (its composing should have started a gap ago)', () => {
    addInstance('a');
    const first = smartSend.plan(msg(1))!;
    clock.set(first.sendAt - first.composingMs + 2000);
    expect(smartSend.plan(msg(1))).toEqual(first);
    clock.advance(1);
    const late = smartSend.plan(msg(1))!;
    expect(late.sendAt).toBeGreaterThan(clock.now());
    // The stale slot stays counted: a send whose answer never came may have used it.
    expect(state.instance('a')).toMatchObject({ hourCount: 2, dayCount: 2 });
    // Unless the message never went out on it (its job only came back late): then it counts once.
    clock.advance(late.sendAt - clock.now() + 2001);
    smartSend.plan(msg(1, { unsent: true }));
    expect(state.instance('a')).toMatchObject({ hourCount: 2, dayCount: 2 });
  });

  it('a slot released as unsent stops counting in its hour and day; a used one keeps counting', () => {
    addInstance('a');
    const counts = () => {
      const s = state.instance('a')!;
      return [s.hourCount, s.dayCount];
    };
    smartSend.plan(msg(1));
    smartSend.plan(msg(2));
    expect(counts()).toEqual([2, 2]);
    smartSend.release('m1'); // sent
    expect(counts()).toEqual([2, 2]);
    smartSend.release('m2', { unsent: true }); // refused by WhatsApp: never went out
    expect(counts()).toEqual([1, 1]);
    smartSend.release('m2', { unsent: true }); // twice: nothing left to give back
    expect(counts()).toEqual([1, 1]);
  });

  it('sends pinned messages from their instance, which becomes the sticky one of a new contact', () => {
    addInstance('a');
    addInstance('b');
    smartSend.plan(msg(1, { recipient: '111' })); // to a, which is now busier than b
    const pinned = smartSend.plan(msg(2, { instanceId: 'a', recipient: '222' }))!;
    expect(pinned).toMatchObject({ instanceId: 'a', mode: 'pinned' });
    expect(state.sticky('o1', '222')).toBe('a');
    expect(smartSend.plan(msg(3, { recipient: '222' }))).toMatchObject({ instanceId: 'a', mode: 'auto' });
    // A pinned message does not move a contact that already has a number.
    smartSend.plan(msg(4, { instanceId: 'b', recipient: '222' }));
    expect(state.sticky('o1', '222')).toBe('a');
  });

  it('refuses a pinned instance that is unknown or belongs to another org', () => {
    addInstance('a');
    addInstance('x', 11, 'o2');
    for (const instanceId of ['nope', 'x']) {
      expect(() => smartSend.plan(msg(1, { instanceId }))).toThrow(AppError);
    }
    try {
      smartSend.plan(msg(1, { instanceId: 'x' }));
    } catch (err) {
      expect((err as AppError).code).toBe('NOT_FOUND');
    }
  });

  it('on a ban, moves the waiting auto messages to the other instances; pinned ones wait', () => {
    addInstance('a');
    addInstance('b');
    const plans = [1, 2, 3, 4, 5, 6].map((n) => smartSend.plan(msg(n))!);
    const pinned = smartSend.plan(msg(7, { instanceId: 'a' }))!;
    const onA = plans.filter((p) => p.instanceId === 'a');
    expect(onA.length).toBeGreaterThan(1);

    const report = smartSend.report('a', { kind: 'connection', state: 'close', statusReason: 401 });
    expect(report.event).toMatchObject({ instanceId: 'a', from: 'ACTIVE', to: 'BANNED' });
    expect(events).toEqual([report.event]);
    expect(report.rerouted.map((r) => r.messageId).sort()).toEqual(onA.map((p) => p.messageId).sort());
    const lastOnB = Math.max(...plans.filter((p) => p.instanceId === 'b').map((p) => p.sendAt));
    for (const r of report.rerouted) {
      expect(r).toMatchObject({ instanceId: 'b', mode: 'auto' });
      expect(r.sendAt).toBeGreaterThan(lastOnB);
      expect(state.sticky('o1', r.recipient)).toBe('b');
      expect(smartSend.plan(msg(Number(r.messageId.slice(1))))).toEqual(r);
    }
    // The pinned message keeps its place on a and waits: planning it again gives no slot.
    expect(state.reservation(pinned.messageId)).toEqual(pinned);
    expect(smartSend.plan(msg(7, { instanceId: 'a' }))).toBeNull();
    // When a is paired again it warms up, and the pinned message goes out from it.
    smartSend.report('a', { kind: 'connection', state: 'open' });
    expect(smartSend.plan(msg(7, { instanceId: 'a' }))).toMatchObject({ instanceId: 'a', mode: 'pinned' });
  });

  it('on a throttle, plans the waiting messages again after the rest and under the reduced caps', () => {
    addInstance('a');
    addInstance('b');
    const plans = [1, 2, 3, 4, 5, 6].map((n) => smartSend.plan(msg(n))!);
    const pinned = smartSend.plan(msg(7, { instanceId: 'a' }))!;
    const onA = [...plans.filter((p) => p.instanceId === 'a'), pinned];
    expect(onA.length).toBeGreaterThan(2);
    // A's first reserved slot is due before the throttle's rest would end.
    const rest = clock.now() + settings.burstPause.minMs;
    expect(Math.min(...onA.map((p) => p.sendAt))).toBeLessThan(rest);

    const report = smartSend.report('a', { kind: 'rate-limited' });
    expect(report.event).toMatchObject({ instanceId: 'a', to: 'THROTTLED' });
    expect(report.rerouted.map((r) => r.messageId).sort()).toEqual(onA.map((p) => p.messageId).sort());
    // Nothing is left on a at the old pace: every slot there now comes after the rest, in order.
    const nowOnA = state.reservationsOf('a');
    for (const r of nowOnA) expect(r.sendAt).toBeGreaterThanOrEqual(rest);
    expect(state.reservation(pinned.messageId)).toMatchObject({ instanceId: 'a', mode: 'pinned' });
    expect(smartSend.plan(msg(7, { instanceId: 'a' }))).toEqual(state.reservation(pinned.messageId));
    // B's own messages keep their slots.
    for (const p of plans.filter((p) => p.instanceId === 'b'))
      expect(state.reservation(p.messageId)).toEqual(p);
  });

  it('plans nothing when every instance of the org is BANNED', () => {
    addInstance('a');
    smartSend.report('a', { kind: 'logged-out' });
    expect(smartSend.plan(msg(1))).toBeNull();
    expect(smartSend.plan(msg(2, { instanceId: 'a' }))).toBeNull();
  });

  it('applies time-based changes on tick and while planning, and emits them', () => {
    addInstance('a', 10);
    expect(smartSend.tick('o1')).toEqual([]);
    clock.advance(DAY_MS);
    const changed = smartSend.tick('o1');
    expect(changed).toMatchObject([
      { instanceId: 'a', from: 'WARMUP', to: 'ACTIVE', reason: 'warm-up completed' },
    ]);
    expect(events).toEqual(changed);
    expect(state.instance('a')!.health).toBe('ACTIVE');

    smartSend.report('a', { kind: 'rate-limited' });
    clock.advance(2 * 60 * MINUTE_MS);
    smartSend.plan(msg(1));
    expect(events.map((e) => e.to)).toEqual(['ACTIVE', 'THROTTLED', 'ACTIVE']);
  });

  it('emits nothing when the transaction fails', () => {
    addInstance('a');
    const failing: SmartSendState = {
      ...state,
      transaction: (fn) => {
        fn();
        throw new Error('rolled back');
      },
    };
    const s = createSmartSend({
      state: failing,
      settings,
      random: seededRandom(1),
      now: clock.now,
      events: { emit: (e) => events.push(e) },
    });
    expect(() => s.report('a', { kind: 'logged-out' })).toThrow('rolled back');
    expect(events).toEqual([]);
  });
});
