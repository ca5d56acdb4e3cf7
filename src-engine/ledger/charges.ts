import type { UsageKind } from '../contracts/ledger.ts';
import type { Sqlite } from '../db/connection.ts';
import { AppError } from '../errors.ts';
import { cycleAt } from './cycle.ts';
import type { Ledger } from './ledger.ts';
import { uuidv7 } from '../ids.ts';

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
  message: {
    price: 'message.overage',
    kind: 'USAGE_MESSAGE',
    used: 'messages',
    held: 'messages_held',
    own: 'own_messages',
  },
  ai_run: {
    price: 'agent.run',
    kind: 'USAGE_AGENT',
    used: 'ai_runs',
    held: 'ai_runs_held',
    own: 'own_ai_runs',
  },
} as const satisfies Record<
  Unit,
  { price: string; kind: UsageKind; used: string; held: string; own: string }
>;

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

export interface RenewOptions {
  /** The fresh hold's lifetime. */
  ttlMs: number;
  /** Renew a pending hold too when it would expire within this (the work must not outlive it). */
  minRemainingMs: number;
  jobId?: string;
}

export interface Charges {
  /**
   * Counts the unit and holds its price if it is beyond the plan. Only inside the caller's transaction,
   * without a savepoint of its own. Its refusals (PLAN_LIMIT, INSUFFICIENT_CREDITS) come before it
   * writes anything; an unexpected failure part-way leaves what it wrote to the caller's rollback.
   */
  admit(orgId: string, unit: Unit, opts: AdmitOptions): Admission;
  /**
   * Just before the work starts (inside the caller's transaction): a hold that expired while the unit
   * waited gave its credit back to the org, which may have spent it since, so the unit holds its price
   * again from the credit there is now (402 INSUFFICIENT_CREDITS when there is none: the work must not
   * run on credit the org no longer has). A hold about to expire is replaced likewise. Returns the
   * admission to settle (the same one when nothing changed).
   */
  renew(admission: Admission, opts: RenewOptions): Admission;
  /**
   * Settles an admitted unit once (the caller's own state, e.g. the message's status, guards "once").
   * A hold that expired before a success is charged anyway: the work was done.
   */
  settle(admission: Admission, outcome: 'success' | 'failure'): void;
}

interface OrgPlanRow {
  cycle_start: number;
  messages_included: number;
  ai_runs_included: number | null;
  /** The unit's price in the price book; null when it has none (the plan's amount is a hard limit). */
  price_micro: number | null;
}

export function createCharges(deps: {
  sqlite: Sqlite;
  ledger: Ledger;
  now?: () => number;
  newId?: () => string;
  /**
   * Why overage must be refused right now whatever the credit (e.g. the hosted ledger has been out of
   * reach past its grace period), or null. Units within the plan are never refused by it.
   */
  overage?: (orgId: string) => string | null;
}): Charges {
  const { sqlite, ledger } = deps;
  const now = deps.now ?? Date.now;
  const newId = deps.newId ?? uuidv7;

  const statements = (unit: Unit) => {
    const u = UNITS[unit];
    return {
      // Single-table lookups and correlated subqueries, not joins: several times faster in SQLite here,
      // and this runs on every guarded command.
      // The unit's price comes along: one statement less on the paid path.
      org: sqlite.prepare<[string], OrgPlanRow>(
        `SELECT cycle_start,
                (SELECT messages_included FROM plans WHERE id = o.plan_id) AS messages_included,
                (SELECT ai_runs_included FROM plans WHERE id = o.plan_id) AS ai_runs_included,
                (SELECT amount_micro FROM price_book WHERE key = '${u.price}') AS price_micro
         FROM organizations o WHERE id = ?`,
      ),
      counted: sqlite.prepare<[string, string], { used: number; held: number }>(
        `SELECT ${u.used} AS used, ${u.held} AS held FROM usage_counters WHERE org_id = ? AND cycle = ?`,
      ),
      hold: sqlite.prepare<[string, string, number]>(
        `INSERT INTO usage_counters (org_id, cycle, ${u.held}, updated_at) VALUES (?, ?, 1, ?)
         ON CONFLICT(org_id, cycle) DO UPDATE SET ${u.held} = ${u.held} + 1, updated_at = excluded.updated_at`,
      ),
      // `own`: what this desktop did, apart from the org-wide count the hosted ledger may raise `used` to.
      settle: sqlite.prepare<{ done: number; at: number; org: string; cycle: string }>(
        `UPDATE usage_counters SET ${u.held} = max(${u.held} - 1, 0), ${u.used} = ${u.used} + @done,
                                   ${u.own} = ${u.own} + @done, updated_at = @at
         WHERE org_id = @org AND cycle = @cycle`,
      ),
    };
  };
  const st = { message: statements('message'), ai_run: statements('ai_run') };

  /** Overage is refused whatever the credit while `deps.overage` says why (the ledger offline). */
  function refuseOverageIfOffline(orgId: string, price: number) {
    const refused = deps.overage?.(orgId);
    if (!refused) return;
    const balance = ledger.balance(orgId).availableMicro;
    throw new AppError('INSUFFICIENT_CREDITS', refused, {
      balance,
      required: price,
      reason: 'ledger_offline',
    });
  }

  /** Runs a hold's capture or release; false when it expired since it was read (the clock moved on). */
  function resolved(fn: () => unknown): boolean {
    try {
      fn();
      return true;
    } catch (err) {
      if (err instanceof AppError && err.code === 'CONFLICT') return false;
      throw err;
    }
  }

  function admit(orgId: string, unit: Unit, opts: AdmitOptions): Admission {
    if (!sqlite.inTransaction) throw new Error("Charges.admit needs the caller's transaction");
    const s = st[unit];
    const at = now();
    const org = s.org.get(orgId);
    if (!org) throw new AppError('NOT_FOUND', `Organization ${orgId} not found`);
    const { cycle } = cycleAt(org.cycle_start, at);
    // Decided before anything is written: a refusal leaves the caller's unit nothing to undo (the
    // guard's journal undoes a unit that wrote and then failed by replaying its whole batch).
    const before = s.counted.get(orgId, cycle);
    const included = unit === 'message' ? org.messages_included : org.ai_runs_included;
    const counted = before ? before.used + before.held : 0;
    let reservationId: string | null = null;
    if (included !== null && counted >= included) {
      const price = org.price_micro;
      if (price === null) {
        throw new AppError(
          'PLAN_LIMIT',
          `The plan includes ${included} ${unit === 'message' ? 'messages' : 'agent runs'} per cycle`,
          {
            limit: included,
            used: counted,
          },
        );
      }
      refuseOverageIfOffline(orgId, price);
      // No id of ours: the ledger makes a fresh one and skips the lookup a caller-chosen id needs.
      reservationId = ledger.holdInTransaction(orgId, price, opts.ttlMs, {
        reference: opts.reference,
        ...(opts.jobId ? { jobId: opts.jobId } : {}),
      }).id;
    }
    s.hold.run(orgId, cycle, at);
    return { orgId, unit, cycle, free: reservationId === null, reservationId };
  }

  const settleTx = sqlite.transaction((a: Admission, outcome: 'success' | 'failure') => {
    const at = now();
    st[a.unit].settle.run({ done: outcome === 'success' ? 1 : 0, at, org: a.orgId, cycle: a.cycle });
    if (!a.reservationId) return;
    const hold = ledger.getReservation(a.reservationId);
    if (!hold) throw new AppError('NOT_FOUND', `Reservation ${a.reservationId} not found`);
    const pending = hold.state === 'pending' && hold.expiresAt > at;
    if (outcome === 'failure') {
      if (pending) resolved(() => ledger.release(hold.id));
      return;
    }
    if (pending && resolved(() => ledger.capture(hold.id, hold.amountMicro, UNITS[a.unit].kind))) return;
    // Read again after a refused capture: only an expired hold is charged by a transfer, never a posted one.
    if (ledger.getReservation(hold.id)?.state !== 'posted') {
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

  const renewTx = sqlite.transaction((a: Admission, opts: RenewOptions): Admission => {
    if (!a.reservationId) return a;
    const hold = ledger.getReservation(a.reservationId);
    if (!hold) throw new AppError('NOT_FOUND', `Reservation ${a.reservationId} not found`);
    const at = now();
    if (hold.state === 'posted') return a;
    if (hold.state === 'pending' && hold.expiresAt - at > opts.minRemainingMs) return a;
    if (hold.state === 'pending') resolved(() => ledger.release(hold.id));
    refuseOverageIfOffline(a.orgId, hold.amountMicro);
    const fresh = ledger.reserve(a.orgId, hold.amountMicro, opts.ttlMs, {
      reference: hold.reference ?? undefined,
      ...(opts.jobId ? { jobId: opts.jobId } : {}),
    });
    return { ...a, reservationId: fresh.id };
  });

  return {
    admit,
    renew: (admission, opts) => renewTx(admission, opts),
    settle: (admission, outcome) => settleTx.immediate(admission, outcome),
  };
}
