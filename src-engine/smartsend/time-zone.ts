import { AppError } from '../errors.ts';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

/**
 * Local time in one IANA time zone, from the runtime's own tz data (Intl.DateTimeFormat): no
 * dependency. "Wall" times are local wall-clock readings as ms since 1970-01-01 00:00 local, so
 * `Math.floor(wall / DAY_MS)` is a local day number and `wall % DAY_MS` the time of day.
 */
export interface TimeZone {
  readonly name: string;
  /** wall(t) - t at instant `t`. */
  offsetAt(t: number): number;
  /** The local calendar day of `t`, as a day number. */
  localDay(t: number): number;
  /** Milliseconds since local midnight at `t`. */
  msOfDay(t: number): number;
  /**
   * The earliest instant at or after `notBefore` whose wall clock reads `wall` (the first of the
   * two when clocks fall back); when clocks spring forward over `wall`, the instant they jump.
   */
  instantOfWall(wall: number, notBefore?: number): number;
  /** The first instant of local day `day` (midnight, or the DST jump where midnight is skipped). */
  startOfDay(day: number): number;
}

/** Within one UTC day the offset is `before` until instant `at`, then `after` (at = Infinity: no change). */
interface DayOffsets {
  at: number;
  before: number;
  after: number;
}

// Offsets are looked up once per UTC day and zone; older entries are dropped past this many.
const MAX_CACHED_DAYS = 4096;

function createTimeZone(name: string): TimeZone {
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  } catch {
    throw new AppError(
      'VALIDATION_ERROR',
      `Unknown time zone: ${JSON.stringify(name)} (expected an IANA name)`,
    );
  }

  // Offsets change on whole seconds, so the reading at the start of a second holds for all of it.
  const intlOffset = (t: number): number => {
    const s = Math.floor(t / 1000) * 1000;
    const f: Record<string, number> = {};
    for (const p of format.formatToParts(s)) if (p.type !== 'literal') f[p.type] = Number(p.value);
    return Date.UTC(f.year!, f.month! - 1, f.day!, f.hour!, f.minute!, f.second!) - s;
  };

  const days = new Map<number, DayOffsets>();
  // Assumes at most one transition per UTC day, true of every real zone.
  const dayOffsets = (day: number): DayOffsets => {
    let d = days.get(day);
    if (d) return d;
    const start = day * DAY_MS;
    let lo = start;
    let hi = start + DAY_MS - 1000;
    const before = intlOffset(lo);
    const after = intlOffset(hi);
    if (before !== after) {
      while (hi - lo > 1000) {
        const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
        if (intlOffset(mid) === before) lo = mid;
        else hi = mid;
      }
    }
    d = { at: before === after ? Infinity : hi, before, after };
    if (days.size >= MAX_CACHED_DAYS) days.clear();
    days.set(day, d);
    return d;
  };

  const offsetAt = (t: number): number => {
    const d = dayOffsets(Math.floor(t / DAY_MS));
    return t < d.at ? d.before : d.after;
  };

  const instantOfWall = (wall: number, notBefore = -Infinity): number => {
    // The instant reading `wall` lies within 14 h of it, so the offsets a day either side are the
    // only ones it can have (transitions are months apart).
    const a = wall - offsetAt(wall - DAY_MS);
    const b = wall - offsetAt(wall + DAY_MS);
    const [first, second] = a <= b ? [a, b] : [b, a];
    for (const c of [first, second]) {
      if (c >= notBefore && c + offsetAt(c) === wall) return c;
    }
    // `wall` is skipped: the clocks jump over it at the transition between the two candidates.
    for (const c of [first, second]) {
      const at = dayOffsets(Math.floor(c / DAY_MS)).at;
      if (at >= first && at <= second && at >= notBefore) return at;
    }
    throw new Error(`${name}: no instant at or after ${notBefore} reads wall time ${wall}`);
  };

  return {
    name,
    offsetAt,
    localDay: (t) => Math.floor((t + offsetAt(t)) / DAY_MS),
    msOfDay: (t) => {
      const wall = t + offsetAt(t);
      return wall - Math.floor(wall / DAY_MS) * DAY_MS;
    },
    instantOfWall,
    startOfDay: (day) => instantOfWall(day * DAY_MS),
  };
}

// Zone objects hold only immutable tz data and a lookup cache, so one per name is shared.
const zones = new Map<string, TimeZone>();

/** The zone named `name` (e.g. "America/Mexico_City"); a VALIDATION_ERROR if the runtime knows no such zone. */
export function timeZone(name: string): TimeZone {
  let zone = zones.get(name);
  if (!zone) {
    zone = createTimeZone(name);
    zones.set(name, zone);
  }
  return zone;
}
