import { randomUUID } from 'node:crypto';
import type { UsageKind } from '../contracts/ledger.ts';
import type { Sqlite } from '../db/connection.ts';
import { AppError } from '../errors.ts';
import { cycleAt } from './cycle.ts';
import type { Ledger } from './ledger.ts';

/*
 * What one unit of work (a message, an agent run) costs, decided when it is admitted and settled when
 * it is done. Admission counts the unit as "held" in its cycle's counters, so queued work counts
 * against the plan's included amount at once (a Free org cannot queue 1,000 "free" messages); a unit
 * within the included amount is free, one beyond it holds its price from the price book as a ledger
 * reservation (402 INSUFFICIENT_CREDITS when the available credit cannot cover it). Settling moves it
 * from held to used on success (capturing the hold) or just drops it on failure (releasing the hold).
 */

export type Unit = 'message' | 'ai_run';

const UNITS = {
  message: { price: 'message.overage', kind: 'USAGE_MESSAGE', used: 'messages', held: 'messages_held' },
  ai_run: { price: 'agent.run', kind: 'USAGE_AGENT', used: 'ai_runs', held: 'ai_runs_held' },
} as const satisfies Record<Unit, { price: string; kind: UsageKind; used: string; held: string }>;

export interface Admission {
  orgId: string;
  unit: Unit;
  /** The cycle whose counters hold the unit. */
  cycle: string;
  /** Within the plan's included amount: nothing held, nothing charged. */
  free: boolean;
  reservationId: string | null;
}

export interface AdmitOptions {
  /** Ledger reference of the hold and of the usage it becomes, e.g. `message:<id>`. */
  reference: string;
  jobId?: string;
  /** How long the hold lives if never settled (the sweeper releases it then). */
  ttlMs: number;
}

export interface Charges {
  /** Counts the unit and holds its price if it is beyond the plan; inside the caller's transaction. */
  admit(orgId: string, unit: Unit, opts: AdmitOptions): Admission;
  /**
   * Settles an admitted unit once (the caller's own state, e.g. the message's status, guards "once").
   * A hold that expired before a success is charged anyway: the work was done.
   */
  settle(admission: Admission, outcome: 'success' | 'failure'): void;
}

interface PlanUsageRow {
  cycle_start: number;
  messages_included: number;
  ai_runs_included: number | null;
  used: number | null;
  held: number | null;
}

export function createCharges(deps: {
  sqlite: Sqlite;
  ledger: Ledger;
  now?: () => number;
  newId?: () => string;
}): Charges {
  const { sqlite, ledger } = deps;
  const now = deps.now ?? Date.now;
  const newId = deps.newId ?? randomUUID;

  const statements = (unit: Unit) => {
    const u = UNITS[unit];
    return {
      org: sqlite.prepare<[string], { cycle_start: number }>(
        `SELECT cycle_start FROM organizations WHERE id = ?`,
      ),
      planUsage: sqlite.prepare<[string, string], PlanUsageRow>(
        `SELECT o.cycle_start, p.messages_included, p.ai_runs_included, u.${u.used} AS used, u.${u.held} AS held
         FROM organizations o JOIN plans p ON p.id = o.plan_id
         LEFT JOIN usage_counters u ON u.org_id = o.id AND u.cycle = ?
         WHERE o.id = ?`,
      ),
      price: sqlite.prepare<[], { amount_micro: number }>(
        `SELECT amount_micro FROM price_book WHERE key = '${u.price}'`,
      ),
      hold: sqlite.prepare<[string, string, number]>(
        `INSERT INTO usage_counters (org_id, cycle, ${u.held}, updated_at) VALUES (?, ?, 1, ?)
         ON CONFLICT(org_id, cycle) DO UPDATE SET ${u.held} = ${u.held} + 1, updated_at = excluded.updated_at`,
      ),
      settle: sqlite.prepare<[number, number, string, string]>(
        `UPDATE usage_counters SET ${u.held} = max(${u.held} - 1, 0), ${u.used} = ${u.used} + ?, updated_at = ?
         WHERE org_id = ? AND cycle = ?`,
      ),
    };
  };
  const st = { message: statements('message'), ai_run: statements('ai_run') };

  const admitTx = sqlite.transaction((orgId: string, unit: Unit, opts: AdmitOptions): Admission => {
    const s = st[unit];
    const at = now();
    const org = s.org.get(orgId);
    if (!org) throw new AppError('NOT_FOUND', `Organization ${orgId} not found`);
    const { cycle } = cycleAt(org.cycle_start, at);
    const row = s.planUsage.get(cycle, orgId)!;
    const included = unit === 'message' ? row.messages_included : row.ai_runs_included;
    const counted = (row.used ?? 0) + (row.held ?? 0);
    let reservationId: string | null = null;
    if (included !== null && counted >= included) {
      const price = s.price.get()?.amount_micro;
      if (price === undefined) {
        throw new AppError(
          'PLAN_LIMIT',
          `The plan includes ${included} ${unit === 'message' ? 'messages' : 'agent runs'} per cycle`,
          {
            limit: included,
            used: counted,
          },
        );
      }
      reservationId = ledger.reserve(orgId, price, opts.ttlMs, {
        id: newId(),
        reference: opts.reference,
        ...(opts.jobId ? { jobId: opts.jobId } : {}),
      }).id;
    }
    s.hold.run(orgId, cycle, at);
    return { orgId, unit, cycle, free: reservationId === null, reservationId };
  });

  const settleTx = sqlite.transaction((a: Admission, outcome: 'success' | 'failure') => {
    const at = now();
    st[a.unit].settle.run(outcome === 'success' ? 1 : 0, at, a.orgId, a.cycle);
    if (!a.reservationId) return;
    const hold = ledger.getReservation(a.reservationId);
    if (!hold) throw new AppError('NOT_FOUND', `Reservation ${a.reservationId} not found`);
    const pending = hold.state === 'pending' && hold.expiresAt > at;
    if (outcome === 'failure') {
      if (pending) ledger.release(hold.id);
      return;
    }
    if (pending) ledger.capture(hold.id, hold.amountMicro, UNITS[a.unit].kind);
    else if (hold.state !== 'posted') {
      ledger.transfer(
        {
          id: newId(),
          orgId: a.orgId,
          kind: UNITS[a.unit].kind,
          amountMicro: hold.amountMicro,
          reference: hold.reference ?? undefined,
        },
        { force: true },
      );
    }
  });

  return {
    admit: (orgId, unit, opts) => admitTx(orgId, unit, opts),
    settle: (admission, outcome) => settleTx.immediate(admission, outcome),
  };
}
