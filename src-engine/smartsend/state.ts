import {
  HEALTH_REASON,
  type InstanceState,
  type Reservation,
  type SmartSendSettings,
} from '../contracts/smartsend.ts';
import type { TimeZone } from './time-zone.ts';
import { warmupDays, warmupStartForDay } from './warmup.ts';

/**
 * Where SmartSend keeps its state: per-instance pacing and health, the sticky recipient map and
 * the reserved slots. Synchronous, like the SQLite adapter that implements it; `transaction` runs
 * `fn` atomically (the planner reads, decides and writes inside one).
 */
export interface SmartSendState {
  transaction<T>(fn: () => T): T;
  /** The org's IANA time zone. */
  timeZone(orgId: string): string;
  /** The org's instances, in a stable order (ties in rotation go to the first). */
  instances(orgId: string): InstanceState[];
  instance(instanceId: string): InstanceState | undefined;
  putInstance(state: InstanceState): void;
  /** The instance a recipient (a `recipientKey`) sticks to in an org. */
  sticky(orgId: string, recipient: string): string | undefined;
  setSticky(orgId: string, recipient: string, instanceId: string): void;
  reservation(messageId: string): Reservation | undefined;
  /** An instance's reservations, earliest `sendAt` first. */
  reservationsOf(instanceId: string): Reservation[];
  putReservation(reservation: Reservation): void;
  deleteReservation(messageId: string): void;
}

/** A new instance: WARMUP on warm-up day `warmupDay` (default 1), or ACTIVE if that is past the schedule. */
export function initialInstanceState(
  input: { instanceId: string; orgId: string; warmupDay?: number; dailyCap?: number | null },
  now: number,
  zone: TimeZone,
  settings: SmartSendSettings,
): InstanceState {
  const day = input.warmupDay ?? 1;
  const warm = day > warmupDays(settings.warmup);
  return {
    instanceId: input.instanceId,
    orgId: input.orgId,
    health: warm ? 'ACTIVE' : 'WARMUP',
    healthReason: warm ? HEALTH_REASON.addedWarm : HEALTH_REASON.added,
    healthChangedAt: now,
    dailyCap: input.dailyCap ?? null,
    warmupStartedAt: warmupStartForDay(day, now, zone),
    warmupCompletedAt: warm ? now : null,
    lastSendAt: null,
    notBefore: null,
    burstCount: 0,
    burstTarget: 0,
    hourWindow: null,
    hourCount: 0,
    dayWindow: null,
    dayCount: 0,
    throttledUntil: null,
    outcomes: '',
  };
}

/** An in-memory SmartSendState (tests, benches). No rollback: a throwing `fn` keeps what it wrote. */
export function createMemoryState(timeZones: Record<string, string> = {}): SmartSendState {
  const instances = new Map<string, InstanceState>();
  const sticky = new Map<string, string>();
  const reservations = new Map<string, Reservation>();
  const stickyKey = (orgId: string, recipient: string) => `${orgId}\u0000${recipient}`;
  return {
    transaction: (fn) => fn(),
    timeZone: (orgId) => timeZones[orgId] ?? 'UTC',
    instances: (orgId) =>
      [...instances.values()]
        .filter((s) => s.orgId === orgId)
        .sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0)),
    instance: (id) => instances.get(id),
    putInstance: (s) => void instances.set(s.instanceId, s),
    sticky: (orgId, recipient) => sticky.get(stickyKey(orgId, recipient)),
    setSticky: (orgId, recipient, instanceId) => void sticky.set(stickyKey(orgId, recipient), instanceId),
    reservation: (id) => reservations.get(id),
    reservationsOf: (instanceId) =>
      [...reservations.values()]
        .filter((r) => r.instanceId === instanceId)
        .sort((a, b) => a.sendAt - b.sendAt),
    putReservation: (r) => void reservations.set(r.messageId, r),
    deleteReservation: (id) => void reservations.delete(id),
  };
}
