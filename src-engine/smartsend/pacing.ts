import type { InstanceState, SmartSendSettings } from '../contracts/smartsend.ts';
import { isQuiet, quietEnd, quietWindow, type QuietWindow } from './quiet-hours.ts';
import { randomInt, type Random } from './random.ts';
import { HOUR_MS, timeZone, type TimeZone } from './time-zone.ts';
import { warmupCap, warmupDay } from './warmup.ts';

/*
 * Per-instance pacing, as pure functions of the instance's state and an injected time.
 *
 * - Sends are paced inside a burst by a gap drawn in `jitter`; a burst is k sends (k drawn in
 *   `burst` when it starts), then a pause drawn in `burstPause`. Draws happen in `recordSend`, so
 *   `nextSlot` is deterministic: asking twice gives the same answer.
 * - A slot must keep the instance under its hourly cap (UTC clock hours) and its daily cap (local
 *   days of the org's time zone), and outside quiet hours (local wall clock), composing included.
 * - A wait forced by a cap or quiet hours that is longer than the largest gap is a break: it lasts
 *   at least the shortest pause, and the burst starts over after it (so every gap is either in
 *   `jitter` or at least a pause). Any break of a pause or more starts a new burst.
 * - BANNED never sends; THROTTLED has its caps multiplied by `throttle.capFactor` until
 *   `throttledUntil`.
 */

/** What the pacing of an org's instances needs besides their states. */
export interface PacingContext {
  settings: SmartSendSettings;
  zone: TimeZone;
  quiet: QuietWindow | null;
}

export function pacingContext(settings: SmartSendSettings, timeZoneName: string): PacingContext {
  return {
    settings,
    zone: timeZone(timeZoneName),
    quiet: settings.quietHours ? quietWindow(settings.quietHours) : null,
  };
}

/**
 * How long to show "composing" before a text of `textLength` characters. Never more than the
 * smallest gap, so it always fits between two sends.
 */
export function composingMs(textLength: number, settings: SmartSendSettings): number {
  const { msPerChar, minMs, maxMs } = settings.presence;
  const ms = Math.round(Math.min(maxMs, Math.max(minMs, textLength * msPerChar)));
  return Math.min(ms, settings.jitter.minMs);
}

function throttledAt(state: InstanceState, t: number): boolean {
  return state.health === 'THROTTLED' && state.throttledUntil !== null && t < state.throttledUntil;
}

function reduced(cap: number, state: InstanceState, t: number, ctx: PacingContext): number {
  return throttledAt(state, t) ? Math.max(1, Math.floor(cap * ctx.settings.throttle.capFactor)) : cap;
}

/** The instance's cap for the local day of `t`: warm-up step, own or configured cap, throttling. */
export function dailyCapAt(state: InstanceState, t: number, ctx: PacingContext): number {
  const configured = state.dailyCap ?? ctx.settings.dailyCap;
  const ramp =
    state.warmupCompletedAt === null
      ? warmupCap(ctx.settings.warmup, warmupDay(state.warmupStartedAt, t, ctx.zone))
      : null;
  return reduced(ramp === null ? configured : Math.min(ramp, configured), state, t, ctx);
}

export function hourlyCapAt(state: InstanceState, t: number, ctx: PacingContext): number {
  return reduced(ctx.settings.hourlyCap, state, t, ctx);
}

/** `t` if a send (composing from `t - composing`) may happen at `t`; else a later candidate. */
function windowOpening(state: InstanceState, t: number, composing: number, ctx: PacingContext): number {
  const { quiet, zone } = ctx;
  if (quiet) {
    const from = t - composing;
    if (isQuiet(quiet, zone, from)) return quietEnd(quiet, zone, from) + composing;
    if (composing > 0 && isQuiet(quiet, zone, t)) return quietEnd(quiet, zone, t) + composing;
  }
  const hour = Math.floor(t / HOUR_MS);
  if (hour === state.hourWindow && state.hourCount >= hourlyCapAt(state, t, ctx)) {
    return reopening(state, t, (hour + 1) * HOUR_MS);
  }
  const day = zone.localDay(t);
  if (day === state.dayWindow && state.dayCount >= dailyCapAt(state, t, ctx)) {
    return reopening(state, t, zone.startOfDay(day + 1));
  }
  return t;
}

/** A full window reopens when it ends, or when a throttle ends and the full cap is back. */
function reopening(state: InstanceState, t: number, windowEnd: number): number {
  return throttledAt(state, t) ? Math.min(windowEnd, state.throttledUntil!) : windowEnd;
}

// Each round moves past one window (an hour, a day, quiet hours); more means a bug, not a schedule.
const MAX_ROUNDS = 1000;

/**
 * The earliest instant at or after `now + composing` at which the instance may send a message
 * preceded by `composing` ms of "composing"; null if it never may (BANNED).
 */
export function nextSlot(
  state: InstanceState,
  now: number,
  ctx: PacingContext,
  composing = 0,
): number | null {
  if (state.health === 'BANNED') return null;
  const { jitter, burstPause } = ctx.settings;
  let t = Math.max(now + composing, state.notBefore ?? -Infinity);
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const next = windowOpening(state, t, composing, ctx);
    if (next === t) return t;
    const last = state.lastSendAt;
    t = last !== null && next - last > jitter.maxMs ? Math.max(next, last + burstPause.minMs) : next;
  }
  throw new Error(`nextSlot: no slot found for instance ${state.instanceId} after ${MAX_ROUNDS} windows`);
}

/**
 * The state after a send at `sentAt` (a real one, or a reservation of that slot): counts it in its
 * hour, day and burst, and draws the gap (or, when the burst is complete, the pause) to the next.
 * Sends must be recorded in time order.
 */
export function recordSend(
  state: InstanceState,
  sentAt: number,
  ctx: PacingContext,
  random: Random,
): InstanceState {
  if (state.lastSendAt !== null && sentAt < state.lastSendAt) {
    throw new Error(
      `recordSend: ${sentAt} is before the last send ${state.lastSendAt} of ${state.instanceId}`,
    );
  }
  const { jitter, burst, burstPause } = ctx.settings;
  const newBurst = state.lastSendAt === null || sentAt - state.lastSendAt >= burstPause.minMs;
  const burstCount = newBurst ? 1 : state.burstCount + 1;
  const burstTarget = newBurst ? randomInt(random, burst.min, burst.max) : state.burstTarget;
  const rest = burstCount >= burstTarget ? burstPause : jitter;
  const hour = Math.floor(sentAt / HOUR_MS);
  const day = ctx.zone.localDay(sentAt);
  return {
    ...state,
    lastSendAt: sentAt,
    notBefore: sentAt + randomInt(random, rest.minMs, rest.maxMs),
    burstCount,
    burstTarget,
    hourWindow: hour,
    hourCount: hour === state.hourWindow ? state.hourCount + 1 : 1,
    dayWindow: day,
    dayCount: day === state.dayWindow ? state.dayCount + 1 : 1,
  };
}
