import type { InstanceState } from '../contracts/smartsend.ts';
import type { InstanceHealth } from '../contracts/whatsapp.ts';
import { nextSlot, type PacingContext } from './pacing.ts';

/*
 * Rotation for messages sent with `instanceId: "auto"`. The message goes to a healthy instance
 * (WARMUP or ACTIVE) that can still send that day, load-balanced by the earliest next slot (which
 * folds in pacing, caps and quiet hours). It is sticky per recipient: the contact's instance is
 * kept, even when another could send sooner, while it is healthy and has capacity left on the
 * local day of the earliest slot; otherwise the message goes to the earliest instance and the
 * recipient sticks to that one from then on. THROTTLED instances are used only when no healthy one
 * is left; BANNED never.
 *
 * Why stickiness yields to capacity: warm-up numbers (50/day) take on new contacts as fast as any
 * other at the start of a day, and those contacts' later messages would wait days for them: in a
 * 10,000-message simulation strict stickiness made the schedule 70 % longer.
 */

export interface InstancePick {
  instance: InstanceState;
  sendAt: number;
  /** The recipient's sticky instance must become this one. */
  restick: boolean;
}

const HEALTHY: ReadonlySet<InstanceHealth> = new Set(['WARMUP', 'ACTIVE']);

/** The same contact as one key, whether written as a phone number or a WhatsApp user JID. */
export function recipientKey(recipient: string): string {
  const r = recipient.trim().toLowerCase();
  const at = r.indexOf('@');
  if (at >= 0 && !r.endsWith('@s.whatsapp.net')) return r; // groups, lids: their JID is the key
  return (at >= 0 ? r.slice(0, at) : r).replace(/\D/g, '');
}

/**
 * The instance (of `instances`, all of one org) an auto message to a recipient goes to, and its
 * slot; null when every instance is BANNED. Ties go to the earlier instance in the list.
 */
export function pickInstance(
  instances: readonly InstanceState[],
  stickyInstanceId: string | undefined,
  now: number,
  ctx: PacingContext,
  composing = 0,
): InstancePick | null {
  const anyHealthy = instances.some((s) => HEALTHY.has(s.health));
  let best: InstancePick | null = null;
  let sticky: InstancePick | null = null;
  for (const s of instances) {
    if (anyHealthy ? !HEALTHY.has(s.health) : s.health !== 'THROTTLED') continue;
    const sendAt = nextSlot(s, now, ctx, composing);
    if (sendAt === null) continue;
    const pick = { instance: s, sendAt, restick: s.instanceId !== stickyInstanceId };
    if (!pick.restick && HEALTHY.has(s.health)) sticky = pick;
    if (best === null || sendAt < best.sendAt) best = pick;
  }
  if (sticky && best && ctx.zone.localDay(sticky.sendAt) <= ctx.zone.localDay(best.sendAt)) return sticky;
  return best;
}
