import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import { isQuiet, quietEnd, quietWindow } from './quiet-hours.ts';
import { DAY_MS, HOUR_MS, MINUTE_MS, timeZone } from './time-zone.ts';

const at = (iso: string) => Date.parse(iso);
const iso = (t: number) => new Date(t).toISOString();
/** The local day number of a calendar date. */
const dayOf = (date: string) => Date.parse(`${date}T00:00:00Z`) / DAY_MS;

/** The wall clock Intl shows at `t`, as "YYYY-MM-DD HH:MM:SS" (the reference for the property). */
function intlWall(t: number, tz: string): string {
  return new Intl.DateTimeFormat('sv-SE', {
    timeZone: tz,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).format(t);
}
const wallString = (t: number, tz: string) => {
  const z = timeZone(tz);
  return new Date(t + z.offsetAt(t)).toISOString().slice(0, 19).replace('T', ' ');
};

describe('time zones', () => {
  it.each([
    'America/New_York',
    'Europe/Madrid',
    'America/Santiago',
    'America/St_Johns',
    'Asia/Kolkata',
    'Australia/Lord_Howe',
  ])('agrees with Intl on the wall clock at any instant: %s', (tz) => {
    fc.assert(
      fc.property(fc.integer({ min: at('2020-01-01T00:00:00Z'), max: at('2035-01-01T00:00:00Z') }), (t) => {
        expect(wallString(t, tz)).toBe(intlWall(t, tz));
      }),
      { numRuns: 500 },
    );
  });

  it('finds transitions to the second, also at half hours (St Johns moves at 05:30 UTC)', () => {
    const z = timeZone('America/St_Johns');
    const jump = at('2026-03-08T05:30:00Z'); // 02:00 NST -> 03:00 NDT
    expect(z.offsetAt(jump - 1000)).toBe(-3.5 * HOUR_MS);
    expect(z.offsetAt(jump)).toBe(-2.5 * HOUR_MS);
  });

  it('starts days at local midnight across DST, and at the jump where midnight is skipped', () => {
    const ny = timeZone('America/New_York');
    expect(iso(ny.startOfDay(dayOf('2026-03-08')))).toBe('2026-03-08T05:00:00.000Z'); // 23-hour day
    expect(iso(ny.startOfDay(dayOf('2026-03-09')))).toBe('2026-03-09T04:00:00.000Z');
    expect(iso(ny.startOfDay(dayOf('2026-11-02')))).toBe('2026-11-02T05:00:00.000Z'); // after a 25-hour day
    // Santiago springs forward at midnight: 2026-09-06 begins at 01:00 local.
    const scl = timeZone('America/Santiago');
    expect(iso(scl.startOfDay(dayOf('2026-09-06')))).toBe('2026-09-06T04:00:00.000Z');
    expect(scl.localDay(at('2026-09-06T04:00:00Z'))).toBe(dayOf('2026-09-06'));
    expect(scl.localDay(at('2026-09-06T03:59:59Z'))).toBe(dayOf('2026-09-05'));
  });

  it('maps wall times in a fold to their first occurrence, or the first after a bound', () => {
    const ny = timeZone('America/New_York');
    const wall = dayOf('2026-11-01') * DAY_MS + 1.5 * HOUR_MS; // 01:30 happens twice
    expect(iso(ny.instantOfWall(wall))).toBe('2026-11-01T05:30:00.000Z');
    expect(iso(ny.instantOfWall(wall, at('2026-11-01T05:31:00Z')))).toBe('2026-11-01T06:30:00.000Z');
    // 02:30 does not exist on 2026-03-08: the clocks jump from 02:00 to 03:00 at 07:00 UTC.
    expect(iso(ny.instantOfWall(dayOf('2026-03-08') * DAY_MS + 2.5 * HOUR_MS))).toBe(
      '2026-03-08T07:00:00.000Z',
    );
  });

  it('refuses an unknown zone with a VALIDATION_ERROR', () => {
    expect(() => timeZone('Mars/Olympus_Mons')).toThrow(AppError);
    try {
      timeZone('Mars/Olympus_Mons');
    } catch (err) {
      expect((err as AppError).code).toBe('VALIDATION_ERROR');
    }
  });
});

describe('quiet hours', () => {
  const overnight = quietWindow({ start: '21:00', end: '08:00' });
  const midday = quietWindow({ start: '13:00', end: '15:30' });
  const ny = timeZone('America/New_York');

  it('wrap around midnight: start included, end excluded', () => {
    const tokyo = timeZone('Asia/Tokyo'); // UTC+9, no DST
    const q = (local: string) => isQuiet(overnight, tokyo, at(`${local}+09:00`));
    expect(q('2026-06-01T20:59:59')).toBe(false);
    expect(q('2026-06-01T21:00:00')).toBe(true);
    expect(q('2026-06-01T23:59:59')).toBe(true);
    expect(q('2026-06-02T00:00:00')).toBe(true);
    expect(q('2026-06-02T07:59:59')).toBe(true);
    expect(q('2026-06-02T08:00:00')).toBe(false);
    expect(isQuiet(midday, tokyo, at('2026-06-01T12:59:00+09:00'))).toBe(false);
    expect(isQuiet(midday, tokyo, at('2026-06-01T15:29:00+09:00'))).toBe(true);
    expect(isQuiet(midday, tokyo, at('2026-06-01T15:30:00+09:00'))).toBe(false);
  });

  it('end at the local end time on the right day, before and after midnight', () => {
    const tokyo = timeZone('Asia/Tokyo');
    expect(iso(quietEnd(overnight, tokyo, at('2026-06-01T22:00:00+09:00')))).toBe('2026-06-01T23:00:00.000Z');
    expect(iso(quietEnd(overnight, tokyo, at('2026-06-02T03:00:00+09:00')))).toBe('2026-06-01T23:00:00.000Z');
    expect(iso(quietEnd(midday, tokyo, at('2026-06-01T14:00:00+09:00')))).toBe('2026-06-01T06:30:00.000Z');
  });

  it('follow the wall clock over a DST change: the night is an hour shorter or longer', () => {
    // Spring forward (2026-03-08): 21:00 EST -> 08:00 EDT is 10 hours.
    const spring = at('2026-03-07T21:00:00-05:00');
    expect(iso(quietEnd(overnight, ny, spring))).toBe('2026-03-08T12:00:00.000Z');
    expect(quietEnd(overnight, ny, spring) - spring).toBe(10 * HOUR_MS);
    // Fall back (2026-11-01): 21:00 EDT -> 08:00 EST is 12 hours.
    const fall = at('2026-10-31T21:00:00-04:00');
    expect(quietEnd(overnight, ny, fall) - fall).toBe(12 * HOUR_MS);
    expect(isQuiet(overnight, ny, at('2026-11-01T12:59:59Z'))).toBe(true); // 07:59:59 EST
    expect(isQuiet(overnight, ny, at('2026-11-01T13:00:00Z'))).toBe(false);
  });

  it('that end inside the skipped hour end when the clocks jump', () => {
    const q = quietWindow({ start: '23:00', end: '02:30' });
    expect(iso(quietEnd(q, ny, at('2026-03-08T04:30:00Z')))).toBe('2026-03-08T07:00:00.000Z'); // 03:00 EDT
  });

  it('that end inside the repeated hour end at the occurrence after the instant asked about', () => {
    const q = quietWindow({ start: '00:30', end: '01:30' });
    // 01:10 EST, the second pass through 01:xx: quiet again until the second 01:30.
    const t = at('2026-11-01T06:10:00Z');
    expect(isQuiet(q, ny, t)).toBe(true);
    expect(iso(quietEnd(q, ny, t))).toBe('2026-11-01T06:30:00.000Z');
    expect(quietEnd(q, ny, t) - t).toBe(20 * MINUTE_MS);
  });
});
