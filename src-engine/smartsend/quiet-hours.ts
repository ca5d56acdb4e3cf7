import type { QuietHours } from '../contracts/smartsend.ts';
import { DAY_MS, MINUTE_MS, type TimeZone } from './time-zone.ts';

/** Quiet hours as milliseconds since local midnight; `startMs > endMs` wraps around midnight. */
export interface QuietWindow {
  startMs: number;
  endMs: number;
}

const msOf = (hhmm: string) => (Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5))) * MINUTE_MS;

export function quietWindow(q: QuietHours): QuietWindow {
  return { startMs: msOf(q.start), endMs: msOf(q.end) };
}

/** Whether the local wall clock at `t` reads a quiet time (start included, end excluded). */
export function isQuiet(q: QuietWindow, zone: TimeZone, t: number): boolean {
  const m = zone.msOfDay(t);
  return q.startMs < q.endMs ? m >= q.startMs && m < q.endMs : m >= q.startMs || m < q.endMs;
}

/** The first instant after `t` (which is quiet) when the wall clock reads the end of quiet hours. */
export function quietEnd(q: QuietWindow, zone: TimeZone, t: number): number {
  const day = zone.localDay(t);
  const endDay = zone.msOfDay(t) < q.endMs ? day : day + 1;
  return zone.instantOfWall(endDay * DAY_MS + q.endMs, t);
}
