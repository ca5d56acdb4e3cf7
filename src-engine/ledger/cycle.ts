import type { Cycle } from '../contracts/ledger.ts';

/*
 * Billing cycles are monthly anniversaries of the org's `cycle_start`, in UTC. Cycle k starts at the
 * anchor's day-of-month and time of day, k months after the anchor; when a month is shorter, the day
 * is clamped to its last day (anchor Jan 31 -> Feb 28/29 -> Mar 31 -> Apr 30 ...). A cycle is named
 * 'YYYY-MM' after the month it starts in; since consecutive cycles start in consecutive months, names
 * are unique per org. Times before the anchor fall in earlier cycles by the same rule.
 */

const daysInMonth = (year: number, month0: number) => new Date(Date.UTC(year, month0 + 1, 0)).getUTCDate();

function cycleStartAt(anchor: Date, k: number): number {
  const monthIndex = anchor.getUTCMonth() + k;
  const year = anchor.getUTCFullYear() + Math.floor(monthIndex / 12);
  const month0 = ((monthIndex % 12) + 12) % 12;
  const day = Math.min(anchor.getUTCDate(), daysInMonth(year, month0));
  return Date.UTC(
    year,
    month0,
    day,
    anchor.getUTCHours(),
    anchor.getUTCMinutes(),
    anchor.getUTCSeconds(),
    anchor.getUTCMilliseconds(),
  );
}

const label = (ms: number) => {
  const d = new Date(ms);
  return `${String(d.getUTCFullYear()).padStart(4, '0')}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
};

/** The billing cycle that contains `at` for an org whose cycles are anchored at `cycleStart`. */
export function cycleAt(cycleStart: number, at: number): Cycle {
  const anchor = new Date(cycleStart);
  const now = new Date(at);
  let k = (now.getUTCFullYear() - anchor.getUTCFullYear()) * 12 + (now.getUTCMonth() - anchor.getUTCMonth());
  while (cycleStartAt(anchor, k) > at) k--;
  while (cycleStartAt(anchor, k + 1) <= at) k++;
  const startsAt = cycleStartAt(anchor, k);
  return { cycle: label(startsAt), startsAt, endsAt: cycleStartAt(anchor, k + 1) };
}
