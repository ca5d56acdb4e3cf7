import type {
  InstanceHealthEvent,
  InstanceState,
  Reservation,
  SmartSendSettings,
} from '../contracts/smartsend.ts';
import { AppError } from '../errors.ts';
import { transitionHealth, type HealthSignal } from './health.ts';
import { composingMs, nextSlot, pacingContext, recordSend, type PacingContext } from './pacing.ts';
import type { Random } from './random.ts';
import { pickInstance, recipientKey } from './rotation.ts';
import { HOUR_MS } from './time-zone.ts';
import type { SmartSendState } from './state.ts';

/*
 * The planner reserves slots: planning a message picks its instance (rotation or the pinned one)
 * and records the send at its slot in the instance's state at once, so the next message gets the
 * next slot and a queue can delay each job exactly to its own slot (no herd of jobs re-checking
 * the same slot). Planning is idempotent per message id; once the slot was used (the message was
 * sent or the attempt failed) `release` frees the message, and a retry plans a fresh slot.
 *
 * When an instance is throttled its waiting messages are planned again at once, under the reduced caps
 * and after the rest (auto ones may move to other instances): the slots reserved at the old pace must
 * not go out at it. A reservation is re-planned instead of returned when its instance was BANNED (auto messages move
 * to another instance; pinned ones wait, `plan` returns null) or when it is stale: its composing
 * should have started more than the smallest gap ago (the engine was down or busy), so messages
 * that are late do not all go out at once.
 */

export interface SmartSendDeps {
  state: SmartSendState;
  settings: SmartSendSettings;
  random: Random;
  now?: () => number;
  /** Health changes go here after the state was written. */
  events?: { emit(event: InstanceHealthEvent): void };
}

export interface SendRequest {
  /** Idempotency key of the message (one reservation per id). */
  messageId: string;
  orgId: string;
  /** `auto` for rotation, or the id of the instance the message must go out from. */
  instanceId: string;
  /** Phone number or JID. */
  recipient: string;
  /** Length of the text: the "composing" time is proportional to it. */
  textLength: number;
  /**
   * The message has not been handed to Evolution on the slot it holds (it was never claimed for it):
   * a slot re-planned as stale then stops counting in its instance's caps. Without it a stale slot
   * stays counted, as a send whose answer never came may have used it.
   */
  unsent?: boolean;
}

export interface HealthReport {
  event: InstanceHealthEvent | null;
  /**
   * The waiting messages planned again: on a ban the auto ones, moved to other instances; on a
   * throttle all of them, at the reduced pace (auto ones possibly on other instances).
   */
  rerouted: Reservation[];
}

export interface SmartSend {
  /**
   * The message's reserved slot (made now, or the one made before); null when it has to wait:
   * pinned to a BANNED instance, or no instance of the org can send. Unknown or foreign pinned
   * instance: NOT_FOUND.
   */
  plan(request: SendRequest): Reservation | null;
  /**
   * The slot was used (sent, or the attempt failed): the message holds no reservation any more. With
   * `unsent` (it certainly did not go out) the slot stops counting in its instance's hour and day, so a
   * failing stretch (Evolution down) does not use up the number's caps with sends that never happened.
   */
  release(messageId: string, opts?: { unsent?: boolean }): void;
  /** Feeds a health signal of one instance; on a ban its waiting auto messages move at once. */
  report(instanceId: string, signal: HealthSignal): HealthReport;
  /** Moves an instance's waiting auto messages to the org's other instances, earliest first. */
  reroute(instanceId: string): Reservation[];
  /** Applies the time-based health changes (cooldown over, warm-up completed) to an org's instances. */
  tick(orgId: string): InstanceHealthEvent[];
}

export function createSmartSend(deps: SmartSendDeps): SmartSend {
  const { state, settings, random } = deps;
  const now = deps.now ?? Date.now;
  const contexts = new Map<string, PacingContext>();
  const contextOf = (orgId: string): PacingContext => {
    const tz = state.timeZone(orgId);
    let ctx = contexts.get(tz);
    if (!ctx) {
      ctx = pacingContext(settings, tz);
      contexts.set(tz, ctx);
    }
    return ctx;
  };

  /** Runs `fn` in one transaction and emits the health events it collected once it committed. */
  const atomically = <T>(fn: (events: InstanceHealthEvent[]) => T): T => {
    const events: InstanceHealthEvent[] = [];
    const result = state.transaction(() => fn(events));
    for (const e of events) deps.events?.emit(e);
    return result;
  };

  const applySignal = (s: InstanceState, signal: HealthSignal, at: number, events: InstanceHealthEvent[]) => {
    const t = transitionHealth(s, signal, at, contextOf(s.orgId));
    if (t.state !== s) state.putInstance(t.state);
    if (t.event) events.push(t.event);
    return t;
  };

  /** A reserved slot that was not used: out of its instance's hour and day counts, if they are still its. */
  const uncount = (r: Reservation) => {
    const s = state.instance(r.instanceId);
    if (!s) return;
    const hour = Math.floor(r.sendAt / HOUR_MS);
    const day = contextOf(s.orgId).zone.localDay(r.sendAt);
    state.putInstance({
      ...s,
      hourCount: s.hourWindow === hour ? Math.max(0, s.hourCount - 1) : s.hourCount,
      dayCount: s.dayWindow === day ? Math.max(0, s.dayCount - 1) : s.dayCount,
    });
  };

  const tickOrg = (orgId: string, at: number, events: InstanceHealthEvent[]) =>
    state.instances(orgId).map((s) => applySignal(s, { kind: 'tick' }, at, events).state);

  const reserve = (
    request: Omit<SendRequest, 'textLength'> & { composingMs: number },
    at: number,
    events: InstanceHealthEvent[],
  ): Reservation | null => {
    const { orgId, messageId } = request;
    const ctx = contextOf(orgId);
    const instances = tickOrg(orgId, at, events);
    const recipient = recipientKey(request.recipient);
    const stickyId = state.sticky(orgId, recipient);
    const auto = request.instanceId === 'auto';
    let instance: InstanceState;
    let sendAt: number;
    if (auto) {
      const pick = pickInstance(instances, stickyId, at, ctx, request.composingMs);
      if (!pick) return null;
      if (pick.restick) state.setSticky(orgId, recipient, pick.instance.instanceId);
      ({ instance, sendAt } = pick);
    } else {
      const pinned = instances.find((s) => s.instanceId === request.instanceId);
      if (!pinned) throw new AppError('NOT_FOUND', `No instance ${request.instanceId} in org ${orgId}`);
      const slot = nextSlot(pinned, at, ctx, request.composingMs);
      if (slot === null) return null;
      // A contact first reached from a pinned number keeps hearing from it.
      if (stickyId === undefined) state.setSticky(orgId, recipient, pinned.instanceId);
      instance = pinned;
      sendAt = slot;
    }
    state.putInstance(recordSend(instance, sendAt, ctx, random));
    const reservation: Reservation = {
      messageId,
      orgId,
      instanceId: instance.instanceId,
      mode: auto ? 'auto' : 'pinned',
      recipient,
      sendAt,
      composingMs: request.composingMs,
    };
    state.putReservation(reservation);
    return reservation;
  };

  /**
   * Plans the instance's waiting messages again: its auto ones by rotation (other instances may take
   * them), its pinned ones too when `pinned` (on it, at its new pace), in their order. The slots they
   * held stay counted in the instance's hour and day: a conservative pace, never a faster one.
   */
  const replanIn = (
    instanceId: string,
    at: number,
    events: InstanceHealthEvent[],
    pinned: boolean,
  ): Reservation[] => {
    const moved: Reservation[] = [];
    for (const r of state.reservationsOf(instanceId)) {
      if (r.mode !== 'auto' && !pinned) continue;
      state.deleteReservation(r.messageId);
      const next = reserve({ ...r, instanceId: r.mode === 'auto' ? 'auto' : r.instanceId }, at, events);
      if (next) moved.push(next);
    }
    return moved;
  };
  /** On a ban the auto messages move at once; the pinned ones keep their place and wait. */
  const rerouteIn = (instanceId: string, at: number, events: InstanceHealthEvent[]) =>
    replanIn(instanceId, at, events, false);

  return {
    plan: (request) =>
      atomically((events) => {
        const at = now();
        const held = state.reservation(request.messageId);
        if (held) {
          const banned = state.instance(held.instanceId)?.health === 'BANNED';
          const stale = at > held.sendAt - held.composingMs + settings.jitter.minMs;
          if (!banned && !stale) return held;
          // A stale slot stays counted unless it is known unused: its job may have used it (a send
          // whose answer never came). A job that only came back late (a busy or restarted engine)
          // did not, and counting its slot twice would fill the number's caps with sends never made.
          state.deleteReservation(held.messageId);
          if (request.unsent) uncount(held);
        }
        return reserve(
          { ...request, composingMs: held?.composingMs ?? composingMs(request.textLength, settings) },
          at,
          events,
        );
      }),
    release: (messageId, opts = {}) =>
      state.transaction(() => {
        const held = opts.unsent ? state.reservation(messageId) : undefined;
        state.deleteReservation(messageId);
        if (held) uncount(held);
      }),
    report: (instanceId, signal) =>
      atomically((events) => {
        const at = now();
        const s = state.instance(instanceId);
        if (!s) throw new AppError('NOT_FOUND', `No instance ${instanceId}`);
        const { event } = applySignal(s, signal, at, events);
        // A throttle: the slots reserved at the old pace would still go out at it, right after WhatsApp
        // signalled a restriction. They are planned again under the reduced caps and the rest.
        if (event?.to === 'THROTTLED') return { event, rerouted: replanIn(instanceId, at, events, true) };
        return { event, rerouted: event?.to === 'BANNED' ? rerouteIn(instanceId, at, events) : [] };
      }),
    reroute: (instanceId) => atomically((events) => rerouteIn(instanceId, now(), events)),
    tick: (orgId) =>
      atomically((events) => {
        tickOrg(orgId, now(), events);
        return events;
      }),
  };
}
