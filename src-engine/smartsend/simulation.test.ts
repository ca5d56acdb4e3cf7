import { describe, expect, it } from 'vitest';
import { SmartSendSettingsSchema, type Reservation } from '../contracts/smartsend.ts';
import { createSmartSend } from './planner.ts';
import { seededRandom } from './random.ts';
import { createMemoryState, initialInstanceState } from './state.ts';
import { timeZone } from './time-zone.ts';

/*
 * The check, in simulated time: 10,000 messages over 20 instances of two orgs in different
 * time zones (one crosses a DST change), with mixed warm-up ages, planned in one go. The schedule
 * is then checked with this file's own local-time arithmetic (Intl, minute by minute), not
 * SmartSend's: caps, quiet hours, gaps, bursts and pauses, stickiness, and a length within 5 % of
 * the shortest schedule the caps and pacing bounds allow.
 */

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

const settings = SmartSendSettingsSchema.parse({
  hourlyCap: 60,
  dailyCap: 600,
  quietHours: { start: '21:00', end: '08:00' },
});
const { jitter, burst, burstPause } = settings;
const QUIET_FROM = 21 * 60;
const QUIET_TO = 8 * 60;

// 06:00 in Madrid (two days before its clocks fall back), 22:00 the evening before in Mexico City.
const T0 = Date.UTC(2026, 9, 24, 4);
const ORGS = [
  { orgId: 'org-es', tz: 'Europe/Madrid' },
  { orgId: 'org-mx', tz: 'America/Mexico_City' },
];
/** Warm-up day of each org's instances at T0; past 10 = warmed up (ACTIVE). */
const AGES = [1, 1, 2, 3, 5, 6, 8, 10, 11, 30];
const MESSAGES = 10_000;

// --- this test's own local time ------------------------------------------------------------------

const formats = new Map<string, Intl.DateTimeFormat>();
function local(t: number, tz: string): { date: string; minute: number } {
  let f = formats.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    });
    formats.set(tz, f);
  }
  const p = Object.fromEntries(f.formatToParts(t).map((x) => [x.type, x.value]));
  return { date: `${p.year}-${p.month}-${p.day}`, minute: Number(p.hour) * 60 + Number(p.minute) };
}
const quietAt = (t: number, tz: string) => {
  const m = local(t, tz).minute;
  return m >= QUIET_FROM || m < QUIET_TO;
};
const daysBetween = (a: string, b: string) =>
  Math.round((Date.parse(`${b}T00:00Z`) - Date.parse(`${a}T00:00Z`)) / DAY);

/** The daily cap of an instance of warm-up `age` at T0 on local `date` (the default schedule). */
function capOn(age: number, date: string, tz: string): number {
  const day = age + daysBetween(local(T0, tz).date, date);
  return day <= 2 ? 50 : day <= 5 ? 200 : day <= 10 ? 500 : settings.dailyCap;
}

/** Whether some minute in (from, to) is in quiet hours. */
function quietBetween(from: number, to: number, tz: string): boolean {
  for (let t = Math.floor(from / MIN) * MIN + MIN; t < to; t += MIN) if (quietAt(t, tz)) return true;
  return false;
}

/**
 * The earliest sends one instance could make, with the fastest pacing the bounds allow (smallest
 * gap, longest burst, shortest pause), under the hourly and daily caps and quiet hours, until `end`.
 */
function fastestSends(age: number, tz: string, end: number): number[] {
  const sends: number[] = [];
  const perHour = new Map<number, number>();
  const perDay = new Map<string, number>();
  let t = T0;
  let run = 0;
  let last: number | null = null;
  // A blocked instant waits for the next whole minute (local times change on minutes).
  const nextMinute = (x: number) => Math.floor(x / MIN) * MIN + MIN;
  while (t <= end) {
    const { date } = local(t, tz);
    if (quietAt(t, tz)) t = nextMinute(t);
    else if ((perHour.get(Math.floor(t / HOUR)) ?? 0) >= settings.hourlyCap)
      t = (Math.floor(t / HOUR) + 1) * HOUR;
    else if ((perDay.get(date) ?? 0) >= capOn(age, date, tz)) t = nextMinute(t);
    else {
      sends.push(t);
      perHour.set(Math.floor(t / HOUR), (perHour.get(Math.floor(t / HOUR)) ?? 0) + 1);
      perDay.set(date, (perDay.get(date) ?? 0) + 1);
      run = last !== null && t - last < burstPause.minMs ? run + 1 : 1;
      last = t;
      t += run >= burst.max ? burstPause.minMs : jitter.minMs;
    }
  }
  return sends;
}

/** How many of `list`'s sends up to index `i` share its window (`windowOf`). */
function sendsUpTo(list: readonly Reservation[], i: number, windowOf: (t: number) => unknown): number {
  const w = windowOf(list[i]!.sendAt);
  let n = 0;
  for (let j = i; j >= 0 && windowOf(list[j]!.sendAt) === w; j--) n++;
  return n;
}

// --- the run ---------------------------------------------------------------------------------------

function simulate(seed: number) {
  const state = createMemoryState(Object.fromEntries(ORGS.map((o) => [o.orgId, o.tz])));
  for (const { orgId, tz } of ORGS) {
    AGES.forEach((age, i) =>
      state.putInstance(
        initialInstanceState(
          { instanceId: `${orgId}-i${String(i).padStart(2, '0')}`, orgId, warmupDay: age },
          T0,
          timeZone(tz),
          settings,
        ),
      ),
    );
  }
  const smartSend = createSmartSend({ state, settings, random: seededRandom(seed), now: () => T0 });
  const workload = seededRandom(seed + 1);
  const recipients = new Map<string, string[]>(ORGS.map((o) => [o.orgId, []]));
  const plans: Reservation[] = [];
  for (let i = 0; i < MESSAGES; i++) {
    const { orgId } = ORGS[i % ORGS.length]!;
    const known = recipients.get(orgId)!;
    // 30 % of messages go to a contact the org already wrote to.
    let recipient: string;
    if (known.length > 0 && workload() < 0.3) recipient = known[Math.floor(workload() * known.length)]!;
    else {
      recipient = `52155${String(known.length).padStart(8, '0')}`;
      known.push(recipient);
    }
    const plan = smartSend.plan({
      messageId: `m${i}`,
      orgId,
      instanceId: 'auto',
      recipient,
      textLength: 5 + Math.floor(workload() * 400),
    });
    if (!plan) throw new Error(`message ${i} got no slot`);
    plans.push(plan);
  }
  return plans;
}

describe('SmartSend simulation: 10,000 messages, 20 instances, mixed warm-up ages', () => {
  const plans = simulate(20_261_024);
  const tzOf = new Map(ORGS.map((o) => [o.orgId, o.tz]));
  const byInstance = new Map<string, Reservation[]>();
  for (const p of plans) byInstance.set(p.instanceId, [...(byInstance.get(p.instanceId) ?? []), p]);
  for (const list of byInstance.values()) list.sort((a, b) => a.sendAt - b.sendAt);
  const ageOf = (instanceId: string) => AGES[Number(instanceId.slice(-2))]!;

  it('plans every message on its own org, and uses every instance', () => {
    expect(plans).toHaveLength(MESSAGES);
    expect(new Set(plans.map((p) => p.messageId)).size).toBe(MESSAGES);
    expect(plans.every((p) => p.instanceId.startsWith(p.orgId) && p.sendAt >= T0)).toBe(true);
    expect(byInstance.size).toBe(ORGS.length * AGES.length);
  });

  it('never exceeds an hourly or daily cap (warm-up caps by local day)', () => {
    for (const [instanceId, list] of byInstance) {
      const tz = tzOf.get(list[0]!.orgId)!;
      const perHour = new Map<number, number>();
      const perDay = new Map<string, number>();
      for (const p of list) {
        const h = Math.floor(p.sendAt / HOUR);
        perHour.set(h, (perHour.get(h) ?? 0) + 1);
        const d = local(p.sendAt, tz).date;
        perDay.set(d, (perDay.get(d) ?? 0) + 1);
      }
      expect(Math.max(...perHour.values())).toBeLessThanOrEqual(settings.hourlyCap);
      for (const [date, n] of perDay)
        expect(n, `${instanceId} on ${date}`).toBeLessThanOrEqual(capOn(ageOf(instanceId), date, tz));
    }
  });

  it('never sends, nor shows "composing", inside quiet hours', () => {
    for (const p of plans) {
      const tz = tzOf.get(p.orgId)!;
      expect(quietAt(p.sendAt, tz) || quietAt(p.sendAt - p.composingMs, tz), `${p.messageId}`).toBe(false);
    }
  });

  it('keeps every gap within the jitter bounds, bursts within theirs, and pauses after bursts within theirs', () => {
    let pauses = 0;
    let forcedBreaks = 0;
    for (const [instanceId, list] of byInstance) {
      const tz = tzOf.get(list[0]!.orgId)!;
      let run = 1;
      for (let i = 1; i < list.length; i++) {
        const prev = list[i - 1]!.sendAt;
        const gap = list[i]!.sendAt - prev;
        const where = `${instanceId} send ${i}`;
        if (gap <= jitter.maxMs) {
          expect(gap, where).toBeGreaterThanOrEqual(jitter.minMs);
          run++;
          expect(run, where).toBeLessThanOrEqual(burst.max);
          continue;
        }
        // A break: at least a pause. Unless the previous send filled its hour or its day, or
        // quiet hours came in between, it is the pause after a complete burst, within its bounds.
        expect(gap, where).toBeGreaterThanOrEqual(burstPause.minMs);
        const forced =
          sendsUpTo(list, i - 1, (t) => Math.floor(t / HOUR)) === settings.hourlyCap ||
          sendsUpTo(list, i - 1, (t) => local(t, tz).date) ===
            capOn(ageOf(instanceId), local(prev, tz).date, tz) ||
          quietBetween(prev, list[i]!.sendAt, tz);
        if (forced) forcedBreaks++;
        else {
          pauses++;
          expect(gap, where).toBeLessThanOrEqual(burstPause.maxMs);
          expect(run, where).toBeGreaterThanOrEqual(burst.min);
        }
        run = 1;
      }
    }
    expect(pauses).toBeGreaterThan(100);
    expect(forcedBreaks).toBeGreaterThan(100);
  });

  it('keeps every recipient on its instance while that one can still send that day', () => {
    const current = new Map<string, string>();
    let repeats = 0;
    let moves = 0;
    for (const p of plans) {
      const key = `${p.orgId}/${p.recipient}`;
      const before = current.get(key);
      current.set(key, p.instanceId);
      if (before === undefined) continue;
      repeats++;
      if (before === p.instanceId) continue;
      // Moved: its instance had no capacity left on that local day (cap reached, or its last
      // send came so late that the next could not fit before quiet hours).
      moves++;
      const tz = tzOf.get(p.orgId)!;
      const day = local(p.sendAt, tz).date;
      const thatDay = byInstance.get(before)!.filter((q) => local(q.sendAt, tz).date === day);
      const full = thatDay.length === capOn(ageOf(before), day, tz);
      const lastMinute = thatDay.length ? local(thatDay.at(-1)!.sendAt, tz).minute : 0;
      expect(
        full || lastMinute >= QUIET_FROM - (burstPause.maxMs + jitter.maxMs) / MIN,
        `${key} -> ${p.instanceId}`,
      ).toBe(true);
    }
    console.log(`stickiness: ${repeats} messages to known recipients, ${moves} moved with their recipient`);
    expect(repeats).toBeGreaterThan(2500);
    expect(moves).toBeGreaterThan(0);
  });

  it('takes at most 5 % longer than the shortest schedule the caps and pacing bounds allow', () => {
    for (const { orgId, tz } of ORGS) {
      const mine = plans.filter((p) => p.orgId === orgId);
      const end = Math.max(...mine.map((p) => p.sendAt));
      // The shortest schedule sends the org's n messages at the n earliest instants any of its
      // instances could send at, each paced as fast as the bounds allow.
      const fastest = AGES.flatMap((age) => fastestSends(age, tz, end)).sort((a, b) => a - b);
      expect(
        fastest.length,
        `${orgId}: a faster schedule than the theoretical minimum`,
      ).toBeGreaterThanOrEqual(mine.length);
      const minimum = fastest[mine.length - 1]! - T0;
      const ratio = (end - T0) / minimum;
      console.log(
        `${orgId}: ${mine.length} messages in ${((end - T0) / HOUR).toFixed(2)} h; minimum ${(minimum / HOUR).toFixed(2)} h; ratio ${ratio.toFixed(4)}`,
      );
      expect(ratio).toBeLessThanOrEqual(1.05);
    }
  });

  it('is exactly reproducible from its seed', () => {
    const again = simulate(20_261_024);
    expect(again.map((p) => `${p.instanceId}@${p.sendAt}`)).toEqual(
      plans.map((p) => `${p.instanceId}@${p.sendAt}`),
    );
  });
});
