import type { Alert, AlertKind } from '../contracts/compliance.ts';
import type { AlertEvent } from '../contracts/events.ts';
import type { Sqlite } from '../db/connection.ts';
import { toAlert, type AlertRow } from '../guard/rows.ts';
import { formatCredits } from '../ledger/money.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { Quotas } from '../ledger/quota.ts';
import { uuidv7 } from '../ids.ts';

/** Shares of the plan's monthly messages that raise an alert, once each per cycle. */
export const QUOTA_THRESHOLDS = [70, 85, 95] as const;

export interface Compliance {
  /** Raises the quota and low-credit alerts the org has newly crossed; returns the new ones. */
  checkOrg(orgId: string): Alert[];
  /**
   * A one-off alert about a subject (a banned number, a failed agent run); once per subject. With
   * `again`, for what can happen to a subject more than once (a number banned after it was paired
   * again), every call is an alert of its own, numbered 1, 2, ... in its `threshold`: the caller raises
   * it once per occurrence.
   */
  raise(
    orgId: string,
    kind: Exclude<AlertKind, 'quota' | 'low_credit'>,
    subject: string,
    message: string,
    opts?: { again?: boolean },
  ): Alert | null;
}

/**
 * Compliance alerts: persisted once per (org, kind, threshold, period) by a unique index, so checking
 * again — from two workers, or after a restart — never raises a duplicate; each new one is an event
 * (the tray notifies) and is listed at /compliance/alerts. `cycle` holds the billing cycle for quota
 * and low-credit alerts, and the subject (instance or run id) for one-off alerts.
 */
export function createCompliance(deps: {
  sqlite: Sqlite;
  quotas: Quotas;
  ledger: Ledger;
  /** Available credit under this (micro-credits) raises a low-credit alert once per cycle. */
  lowCreditMicro: number;
  events?: { emit(event: AlertEvent): void };
  now?: () => number;
  newId?: () => string;
}): Compliance {
  const now = deps.now ?? Date.now;
  const newId = deps.newId ?? uuidv7;
  const insert = deps.sqlite.prepare<[string, string, string, number, string, string, number], AlertRow>(
    `INSERT INTO alerts (id, org_id, kind, threshold, cycle, message, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT(org_id, kind, threshold, cycle) DO NOTHING RETURNING *`,
  );
  // Read first: checks run after every posting, and an INSERT that does nothing is still a write (it
  // would commit the guard's open batch, db/journal.ts) once the org is past a threshold.
  const alreadyRaised = deps.sqlite.prepare<[string, string, number, string], { one: number }>(
    `SELECT 1 AS one FROM alerts WHERE org_id = ? AND kind = ? AND threshold = ? AND cycle = ?`,
  );
  const occurrences = deps.sqlite.prepare<[string, string, string], { n: number }>(
    `SELECT count(*) AS n FROM alerts WHERE org_id = ? AND kind = ? AND cycle = ?`,
  );

  function put(
    orgId: string,
    kind: AlertKind,
    threshold: number,
    period: string,
    message: string,
  ): Alert | null {
    if (alreadyRaised.get(orgId, kind, threshold, period)) return null;
    const at = now();
    const row = insert.get(newId(), orgId, kind, threshold, period, message, at);
    if (!row) return null;
    const alert = toAlert(row);
    deps.events?.emit({ type: 'alert.raised', orgId, ts: at, alert });
    return alert;
  }

  return {
    checkOrg(orgId) {
      const quota = deps.quotas.quota(orgId);
      const { used, included } = quota.messages;
      const raised: Alert[] = [];
      for (const th of QUOTA_THRESHOLDS) {
        if (included > 0 && used * 100 >= included * th) {
          const a = put(
            orgId,
            'quota',
            th,
            quota.cycle.cycle,
            `${used} of ${included} messages used this cycle (${th} %)`,
          );
          if (a) raised.push(a);
        }
      }
      const { availableMicro } = deps.ledger.balance(orgId);
      if (availableMicro < deps.lowCreditMicro) {
        const a = put(
          orgId,
          'low_credit',
          0,
          quota.cycle.cycle,
          `Available credit is ${formatCredits(availableMicro)}, under ${formatCredits(deps.lowCreditMicro)}`,
        );
        if (a) raised.push(a);
      }
      return raised;
    },
    raise(orgId, kind, subject, message, opts = {}) {
      const occurrence = opts.again ? occurrences.get(orgId, kind, subject)!.n + 1 : 0;
      return put(orgId, kind, occurrence, subject, message);
    },
  };
}
