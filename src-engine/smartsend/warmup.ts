import type { WarmupStep } from '../contracts/smartsend.ts';
import type { TimeZone } from './time-zone.ts';

/*
 * Warm-up: a new instance's daily cap ramps by warm-up day (day 1 = the local day it started),
 * following the settings' steps; past the last step it has the configured cap and, at the next
 * health tick, becomes ACTIVE.
 *
 * Incident rule: an incident during warm-up (anything that throttles the instance) moves it back
 * to the first day of the previous step (from the first step: day 1), by moving its start date
 * later. With the default steps, an incident on day 7 (500/day) puts it on day 3 (200/day): it has
 * to earn the higher caps again, and it becomes ACTIVE only after running the rest of the
 * schedule without another incident setting it back.
 */

/** The number of days the schedule lasts. */
export function warmupDays(steps: readonly WarmupStep[]): number {
  return steps.reduce((n, s) => n + s.days, 0);
}

/** The warm-up day (1-based) `t` falls on for an instance that started at `startedAt`. */
export function warmupDay(startedAt: number, t: number, zone: TimeZone): number {
  return zone.localDay(t) - zone.localDay(startedAt) + 1;
}

/** The daily cap the schedule gives `day` (days before day 1 count as day 1); null past the schedule. */
export function warmupCap(steps: readonly WarmupStep[], day: number): number | null {
  let last = 0;
  for (const s of steps) {
    last += s.days;
    if (day <= last) return s.cap;
  }
  return null;
}

/** The start instant that makes `now` fall on warm-up `day`: midnight of that many days ago. */
export function warmupStartForDay(day: number, now: number, zone: TimeZone): number {
  return zone.startOfDay(zone.localDay(now) - (day - 1));
}

/** The new start after an incident on `now` (see the rule above). */
export function warmupStepBack(
  startedAt: number,
  now: number,
  zone: TimeZone,
  steps: readonly WarmupStep[],
): number {
  const day = warmupDay(startedAt, now, zone);
  const starts: number[] = [];
  let next = 1;
  for (const s of steps) {
    starts.push(next);
    next += s.days;
  }
  // The step `day` is in (a day past the schedule counts as the last step).
  let i = starts.length - 1;
  while (i > 0 && day < starts[i]!) i--;
  return warmupStartForDay(i === 0 ? 1 : starts[i - 1]!, now, zone);
}
