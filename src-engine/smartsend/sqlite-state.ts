import type { InstanceHealthEvent, InstanceState, Reservation } from '../contracts/smartsend.ts';
import type { InstanceHealth } from '../contracts/whatsapp.ts';
import type { Sqlite } from '../db/connection.ts';
import type { SmartSendState } from './state.ts';

/*
 * SmartSend's state in the engine's SQLite file: the pacing and health columns of
 * `whatsapp_instances`, `smartsend_sticky` and `smartsend_reservations`. Every method is one
 * statement, so the planner's `transaction` (SQLite's, re-entrant as a savepoint) makes its
 * read-decide-write atomic across workers and processes.
 */

interface InstanceStateRow {
  id: string;
  org_id: string;
  health: string;
  health_reason: string | null;
  health_changed_at: number | null;
  daily_cap: number | null;
  warmup_started_at: number | null;
  warmup_completed_at: number | null;
  created_at: number;
  last_send_at: number | null;
  not_before: number | null;
  burst_count: number;
  burst_target: number;
  hour_window: number | null;
  hour_count: number;
  day_window: number | null;
  day_count: number;
  throttled_until: number | null;
  outcomes: string;
}

interface ReservationRow {
  message_id: string;
  org_id: string;
  instance_id: string;
  mode: string;
  recipient: string;
  send_at: number;
  composing_ms: number;
}

const COLUMNS = `id, org_id, health, health_reason, health_changed_at, daily_cap, warmup_started_at,
  warmup_completed_at, created_at, last_send_at, not_before, burst_count, burst_target, hour_window,
  hour_count, day_window, day_count, throttled_until, outcomes`;

const toState = (r: InstanceStateRow): InstanceState => ({
  instanceId: r.id,
  orgId: r.org_id,
  health: r.health as InstanceHealth,
  healthReason: r.health_reason,
  healthChangedAt: r.health_changed_at,
  dailyCap: r.daily_cap,
  // Rows added before SmartSend had no start: their creation is the warm-up's first day.
  warmupStartedAt: r.warmup_started_at ?? r.created_at,
  warmupCompletedAt: r.warmup_completed_at,
  lastSendAt: r.last_send_at,
  notBefore: r.not_before,
  burstCount: r.burst_count,
  burstTarget: r.burst_target,
  hourWindow: r.hour_window,
  hourCount: r.hour_count,
  dayWindow: r.day_window,
  dayCount: r.day_count,
  throttledUntil: r.throttled_until,
  outcomes: r.outcomes,
});

const toReservation = (r: ReservationRow): Reservation => ({
  messageId: r.message_id,
  orgId: r.org_id,
  instanceId: r.instance_id,
  mode: r.mode as Reservation['mode'],
  recipient: r.recipient,
  sendAt: r.send_at,
  composingMs: r.composing_ms,
});

export function createSqliteState(deps: { sqlite: Sqlite; now?: () => number }): SmartSendState {
  const { sqlite } = deps;
  const now = deps.now ?? Date.now;
  const st = {
    zone: sqlite.prepare<[string], { timezone: string }>(`SELECT timezone FROM organizations WHERE id = ?`),
    instances: sqlite.prepare<[string], InstanceStateRow>(
      `SELECT ${COLUMNS} FROM whatsapp_instances WHERE org_id = ? ORDER BY created_at, id`,
    ),
    instance: sqlite.prepare<[string], InstanceStateRow>(
      `SELECT ${COLUMNS} FROM whatsapp_instances WHERE id = ?`,
    ),
    putInstance: sqlite.prepare(
      `UPDATE whatsapp_instances SET health = @health, health_reason = @healthReason,
         health_changed_at = @healthChangedAt, daily_cap = @dailyCap, warmup_started_at = @warmupStartedAt,
         warmup_completed_at = @warmupCompletedAt, last_send_at = @lastSendAt, not_before = @notBefore,
         burst_count = @burstCount, burst_target = @burstTarget, hour_window = @hourWindow,
         hour_count = @hourCount, day_window = @dayWindow, day_count = @dayCount,
         throttled_until = @throttledUntil, outcomes = @outcomes
       WHERE id = @instanceId`,
    ),
    sticky: sqlite.prepare<[string, string], { instance_id: string }>(
      `SELECT instance_id FROM smartsend_sticky WHERE org_id = ? AND recipient = ?`,
    ),
    setSticky: sqlite.prepare<[string, string, string, number]>(
      `INSERT INTO smartsend_sticky (org_id, recipient, instance_id, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (org_id, recipient) DO UPDATE SET instance_id = excluded.instance_id,
         updated_at = excluded.updated_at`,
    ),
    reservation: sqlite.prepare<[string], ReservationRow>(
      `SELECT * FROM smartsend_reservations WHERE message_id = ?`,
    ),
    reservationsOf: sqlite.prepare<[string], ReservationRow>(
      `SELECT * FROM smartsend_reservations WHERE instance_id = ? ORDER BY send_at, message_id`,
    ),
    putReservation: sqlite.prepare(
      `INSERT OR REPLACE INTO smartsend_reservations
         (message_id, org_id, instance_id, mode, recipient, send_at, composing_ms)
       VALUES (@messageId, @orgId, @instanceId, @mode, @recipient, @sendAt, @composingMs)`,
    ),
    deleteReservation: sqlite.prepare<[string]>(`DELETE FROM smartsend_reservations WHERE message_id = ?`),
  };

  return {
    transaction: (fn) => sqlite.transaction(fn).immediate(),
    timeZone: (orgId) => st.zone.get(orgId)?.timezone ?? 'UTC',
    instances: (orgId) => st.instances.all(orgId).map(toState),
    instance: (id) => {
      const row = st.instance.get(id);
      return row && toState(row);
    },
    putInstance: (s) => void st.putInstance.run(s),
    sticky: (orgId, recipient) => st.sticky.get(orgId, recipient)?.instance_id,
    setSticky: (orgId, recipient, instanceId) => void st.setSticky.run(orgId, recipient, instanceId, now()),
    reservation: (id) => {
      const row = st.reservation.get(id);
      return row && toReservation(row);
    },
    reservationsOf: (instanceId) => st.reservationsOf.all(instanceId).map(toReservation),
    putReservation: (r) => void st.putReservation.run(r),
    deleteReservation: (id) => void st.deleteReservation.run(id),
  };
}

/** Appends a health change to the instance's history (the state itself is already written). */
export function healthHistory(sqlite: Sqlite): (event: InstanceHealthEvent) => void {
  const insert = sqlite.prepare(
    `INSERT INTO instance_health_events (instance_id, org_id, "from", "to", reason, ts)
     VALUES (@instanceId, @orgId, @from, @to, @reason, @ts)`,
  );
  return (e) => void insert.run(e);
}
