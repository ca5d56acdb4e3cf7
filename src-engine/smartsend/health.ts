import { BANNED_CLOSE_CODES, type ConnectionState } from '../contracts/evolution.ts';
import { HEALTH_REASON, type InstanceHealthEvent, type InstanceState } from '../contracts/smartsend.ts';
import type { InstanceHealth } from '../contracts/whatsapp.ts';
import type { PacingContext } from './pacing.ts';
import { warmupDay, warmupDays, warmupStepBack } from './warmup.ts';

/*
 * The health state machine: WARMUP -> ACTIVE -> THROTTLED -> ACTIVE, and * -> BANNED.
 *
 * - THROTTLED on signs of restriction: a rate-overlimit answer (at once); `errorAckLimit` error
 *   acks among the last `window` outcomes; or a failure ratio (failed sends + error acks over
 *   outcomes) of `maxFailureRatio` or more once the window holds `minSamples`. A throttle lasts
 *   `cooldownMs` from the last sign, reduces the caps (see pacing) and rests the instance for at
 *   least the shortest burst pause. During warm-up it is an incident (see warmup.ts); the
 *   instance goes back to WARMUP, not ACTIVE, after the cooldown unless the schedule is complete.
 * - BANNED when the connection closes with a code Evolution does not reconnect from
 *   (`BANNED_CLOSE_CODES`: 401, 402, 403, 406), or Evolution reports the instance logged out. Only a new connection (the number paired again
 *   by QR) leaves BANNED, into WARMUP with the warm-up started over.
 * - Time-based changes (cooldown over, warm-up complete) happen on a `tick`.
 */

export type HealthSignal =
  | { kind: 'send-ok' }
  | { kind: 'send-failed' }
  /** A MESSAGES_UPDATE with status ERROR for a message this instance sent. */
  | { kind: 'ack-error' }
  /** WhatsApp answered rate-overlimit (Evolution relays it as an error on send). */
  | { kind: 'rate-limited' }
  /** CONNECTION_UPDATE, as the Evolution webhook parser gives it: `statusReason` is the close code. */
  | { kind: 'connection'; state: ConnectionState; statusReason?: number | null }
  | { kind: 'logged-out' }
  | { kind: 'tick' };

export interface HealthTransition {
  state: InstanceState;
  /** The change to emit and persist; null when the health did not change. */
  event: InstanceHealthEvent | null;
}

const OUTCOME = { 'send-ok': 'o', 'send-failed': 'f', 'ack-error': 'e' } as const;

function change(
  state: InstanceState,
  to: InstanceHealth,
  reason: string,
  now: number,
  patch: Partial<InstanceState> = {},
): HealthTransition {
  return {
    state: { ...state, ...patch, health: to, healthReason: reason, healthChangedAt: now },
    event: {
      type: 'instance.health',
      instanceId: state.instanceId,
      orgId: state.orgId,
      from: state.health,
      to,
      reason,
      ts: now,
    },
  };
}

function throttle(state: InstanceState, reason: string, now: number, ctx: PacingContext): HealthTransition {
  const { settings, zone } = ctx;
  const patch: Partial<InstanceState> = {
    throttledUntil: now + settings.throttle.cooldownMs,
    outcomes: '',
    notBefore: Math.max(state.notBefore ?? -Infinity, now + settings.burstPause.minMs),
    warmupStartedAt:
      state.warmupCompletedAt === null
        ? warmupStepBack(state.warmupStartedAt, now, zone, settings.warmup)
        : state.warmupStartedAt,
  };
  // Already throttled: the cooldown starts over, no new event.
  if (state.health === 'THROTTLED')
    return { state: { ...state, ...patch, healthReason: reason }, event: null };
  return change(state, 'THROTTLED', reason, now, patch);
}

/** The outcome window after `signal`, and the throttle reason it gives, if any. */
function judgeOutcomes(state: InstanceState, outcome: 'o' | 'f' | 'e', ctx: PacingContext) {
  const t = ctx.settings.throttle;
  const outcomes = (state.outcomes + outcome).slice(-t.window);
  const errorAcks = outcomes.split('e').length - 1;
  const failures = errorAcks + outcomes.split('f').length - 1;
  const n = outcomes.length;
  let reason: string | null = null;
  if (errorAcks >= t.errorAckLimit) reason = HEALTH_REASON.errorAcks(errorAcks, n);
  else if (n >= t.minSamples && failures / n >= t.maxFailureRatio) {
    reason = HEALTH_REASON.failureRatio(failures / n, n);
  }
  return { outcomes, reason };
}

export function warmupComplete(state: InstanceState, now: number, ctx: PacingContext): boolean {
  return warmupDay(state.warmupStartedAt, now, ctx.zone) > warmupDays(ctx.settings.warmup);
}

/** The instance's health after `signal` at `now`, with the event to emit if it changed. */
export function transitionHealth(
  state: InstanceState,
  signal: HealthSignal,
  now: number,
  ctx: PacingContext,
): HealthTransition {
  const same = { state, event: null };
  if (state.health === 'BANNED') {
    if (signal.kind !== 'connection' || signal.state !== 'open') return same;
    return change(state, 'WARMUP', HEALTH_REASON.reconnected, now, {
      warmupStartedAt: now,
      warmupCompletedAt: null,
      throttledUntil: null,
      outcomes: '',
    });
  }
  switch (signal.kind) {
    case 'connection':
      if (
        signal.state === 'close' &&
        signal.statusReason != null &&
        BANNED_CLOSE_CODES.has(signal.statusReason)
      ) {
        return change(state, 'BANNED', HEALTH_REASON.closed(signal.statusReason), now);
      }
      return same;
    case 'logged-out':
      return change(state, 'BANNED', HEALTH_REASON.loggedOut, now);
    case 'rate-limited':
      return throttle(state, HEALTH_REASON.rateLimited, now, ctx);
    case 'send-ok':
    case 'send-failed':
    case 'ack-error': {
      const { outcomes, reason } = judgeOutcomes(state, OUTCOME[signal.kind], ctx);
      const next = { ...state, outcomes };
      return reason ? throttle(next, reason, now, ctx) : { state: next, event: null };
    }
    case 'tick': {
      const done = state.warmupCompletedAt !== null || warmupComplete(state, now, ctx);
      const completed = { warmupCompletedAt: state.warmupCompletedAt ?? now };
      if (state.health === 'THROTTLED' && state.throttledUntil !== null && now >= state.throttledUntil) {
        return done
          ? change(state, 'ACTIVE', HEALTH_REASON.cooldownOver, now, { ...completed, throttledUntil: null })
          : change(state, 'WARMUP', HEALTH_REASON.cooldownOverWarmup, now, { throttledUntil: null });
      }
      if (state.health === 'WARMUP' && done)
        return change(state, 'ACTIVE', HEALTH_REASON.warmupCompleted, now, completed);
      return same;
    }
  }
}
