import type { LedgerKind, Plan } from '../../contracts/ledger.ts';
import type { LedgerCorrection } from '../../contracts/ledger-sync.ts';
import type { Authority, PulledEntry } from '../../contracts/sync.ts';
import type { Sqlite } from '../../db/connection.ts';
import { cycleAt } from '../cycle.ts';
import type { Ledger } from '../ledger.ts';
import { createOrganization } from '../orgs.ts';
import type { PlanRow } from '../quota.ts';

/*
 * What the server's answers do to local state. Pulled entries become local transfers with the
 * server's id, so applying one twice changes nothing (the ledger is idempotent by transfer id).
 * Then the server's authority corrects the plan, the cycle, the usage counters and the balance.
 *
 * The balance: the local posted balance must equal the server's balance minus the local usage the
 * server has not acknowledged yet (still in the outbox). Any difference (credit granted only
 * locally, an entry the server rejected, a pull that raced a server write) is closed by one local
 * ADJUSTMENT transfer whose reference marks it as the server's. The ledger stays append-only, every
 * transfer balanced and verify() ok, and the credit guard keeps reading one number, the posted
 * balance, with no second source of truth to consult. Corrections are not usage, so they are never
 * pushed.
 *
 * Everything here runs inside the caller's transaction.
 */

export const CORRECTION_REFERENCE = 'hosted ledger: balance correction';

/** Kinds whose amounts credit the org; PLAN_CHARGE debits it; ADJUSTMENT follows its sign. */
/** The org's billing anchor as the server says it (an older server: its current cycle's start). */
const anchorOf = (a: Authority) => a.cycleAnchor ?? a.cycle.startsAt;

const CREDITS: ReadonlySet<string> = new Set(['TOPUP', 'COMMISSION']);

/** A pulled entry (signed from the org's side) as a local transfer body, or null when it moves nothing. */
export function localTransferOf(
  orgId: string,
  e: PulledEntry,
): { id: string; orgId: string; kind: LedgerKind; amountMicro: number; reference?: string } | null {
  if (e.amountMicro === 0) return null;
  const reference = e.reference ? e.reference.slice(0, 500) : undefined;
  const natural =
    e.kind === 'ADJUSTMENT' ||
    (CREDITS.has(e.kind) ? e.amountMicro > 0 : e.kind === 'PLAN_CHARGE' && e.amountMicro < 0);
  if (!natural) {
    // A refund of a plan charge, a reversed commission: a signed ADJUSTMENT says it exactly.
    return {
      id: e.id,
      orgId,
      kind: 'ADJUSTMENT',
      amountMicro: e.amountMicro,
      reference: `${e.kind}${reference ? `: ${reference}` : ''}`.slice(0, 500),
    };
  }
  return {
    id: e.id,
    orgId,
    kind: e.kind,
    amountMicro: e.kind === 'ADJUSTMENT' ? e.amountMicro : Math.abs(e.amountMicro),
    ...(reference ? { reference } : {}),
  };
}

const sameTerms = (r: PlanRow, p: Plan) =>
  r.name === p.name &&
  r.price_micro === p.priceMicro &&
  r.messages_included === p.messagesIncluded &&
  r.ai_runs_included === p.aiRunsIncluded &&
  r.max_instances === p.maxInstances &&
  r.white_label === (p.whiteLabel ? 1 : 0) &&
  r.rate_limit_per_min === p.rateLimitPerMin &&
  r.overdraft_micro === p.overdraftMicro;

export interface AuthorityDeps {
  sqlite: Sqlite;
  ledger: Ledger;
  now: () => number;
  newId: () => string;
}

export function createAuthority(deps: AuthorityDeps) {
  const { sqlite, ledger } = deps;
  const st = {
    plan: sqlite.prepare<[string], PlanRow>(`SELECT * FROM plans WHERE id = ?`),
    upsertPlan: sqlite.prepare<Record<string, string | number | null>>(
      `INSERT INTO plans (id, name, price_micro, messages_included, ai_runs_included, max_instances, white_label,
                          rate_limit_per_min, overdraft_micro, updated_at)
       VALUES (@id, @name, @price, @messages, @aiRuns, @instances, @whiteLabel, @rate, @overdraft, @at)
       ON CONFLICT(id) DO UPDATE SET name = excluded.name, price_micro = excluded.price_micro,
         messages_included = excluded.messages_included, ai_runs_included = excluded.ai_runs_included,
         max_instances = excluded.max_instances, white_label = excluded.white_label,
         rate_limit_per_min = excluded.rate_limit_per_min, overdraft_micro = excluded.overdraft_micro,
         updated_at = excluded.updated_at`,
    ),
    org: sqlite.prepare<[string], { plan_id: string; cycle_start: number }>(
      `SELECT plan_id, cycle_start FROM organizations WHERE id = ?`,
    ),
    setPlan: sqlite.prepare<[string, string]>(`UPDATE organizations SET plan_id = ? WHERE id = ?`),
    setCycleStart: sqlite.prepare<[number, string]>(`UPDATE organizations SET cycle_start = ? WHERE id = ?`),
    usage: sqlite.prepare<[string, string], { messages: number; ai_runs: number }>(
      `SELECT messages, ai_runs FROM usage_counters WHERE org_id = ? AND cycle = ?`,
    ),
    // Moving one cycle's counters under another label: merged into a row already there, as the max of
    // the counts (never counting a unit twice) and the sum of the units held (each is settled under
    // the label its message or run carries, which moves too).
    moveUsage: sqlite.prepare<{ org: string; from: string; to: string; at: number }>(
      `INSERT INTO usage_counters (org_id, cycle, messages, ai_runs, messages_held, ai_runs_held, own_messages,
                                   own_ai_runs, updated_at)
       SELECT org_id, @to, messages, ai_runs, messages_held, ai_runs_held, own_messages, own_ai_runs, @at
       FROM usage_counters WHERE org_id = @org AND cycle = @from
       ON CONFLICT(org_id, cycle) DO UPDATE SET messages = max(messages, excluded.messages),
         ai_runs = max(ai_runs, excluded.ai_runs), messages_held = messages_held + excluded.messages_held,
         ai_runs_held = ai_runs_held + excluded.ai_runs_held,
         own_messages = max(own_messages, excluded.own_messages),
         own_ai_runs = max(own_ai_runs, excluded.own_ai_runs), updated_at = excluded.updated_at`,
    ),
    dropUsage: sqlite.prepare<{ org: string; from: string }>(
      `DELETE FROM usage_counters WHERE org_id = @org AND cycle = @from`,
    ),
    moveMessages: sqlite.prepare<{ org: string; from: string; to: string }>(
      `UPDATE sent_messages SET cycle = @to
       WHERE org_id = @org AND cycle = @from AND status IN ('queued', 'sending')`,
    ),
    moveRuns: sqlite.prepare<{ org: string; from: string; to: string }>(
      `UPDATE agent_runs SET cycle = @to WHERE org_id = @org AND cycle = @from AND status IN ('queued', 'running')`,
    ),
    // The cycle's one-off alerts (70/85/95 %) move along; one the server's cycle already has stays as
    // history without a cycle, so that it does not stop that alert in a later cycle of the old name.
    moveAlerts: sqlite.prepare<{ org: string; from: string; to: string }>(
      `UPDATE OR IGNORE alerts SET cycle = @to WHERE org_id = @org AND cycle = @from`,
    ),
    unnameAlerts: sqlite.prepare<{ org: string; from: string }>(
      `UPDATE alerts SET cycle = NULL WHERE org_id = @org AND cycle = @from`,
    ),
    raiseUsage: sqlite.prepare<{ org: string; cycle: string; messages: number; aiRuns: number; at: number }>(
      `INSERT INTO usage_counters (org_id, cycle, messages, ai_runs, updated_at)
       VALUES (@org, @cycle, @messages, @aiRuns, @at)
       ON CONFLICT(org_id, cycle) DO UPDATE SET messages = max(messages, @messages),
                                                ai_runs = max(ai_runs, @aiRuns), updated_at = @at`,
    ),
  };

  /** Makes the local plan row say what the server's does; true when it changed. */
  function syncPlan(p: Plan): boolean {
    const row = st.plan.get(p.id);
    if (row && sameTerms(row, p)) return false;
    st.upsertPlan.run({
      id: p.id,
      name: p.name,
      price: p.priceMicro,
      messages: p.messagesIncluded,
      aiRuns: p.aiRunsIncluded,
      instances: p.maxInstances,
      whiteLabel: p.whiteLabel ? 1 : 0,
      rate: p.rateLimitPerMin,
      overdraft: p.overdraftMicro,
      at: deps.now(),
    });
    return true;
  }

  /**
   * What the desktop counted in the cycle its own anchor gave (before its first sync, e.g. an org
   * seeded locally) is usage of the server's current cycle: under the old label it would come back
   * when a later cycle got that name.
   */
  function moveCycle(org: string, from: string, to: string): void {
    const at = deps.now();
    st.moveUsage.run({ org, from, to, at });
    st.dropUsage.run({ org, from });
    st.moveMessages.run({ org, from, to });
    st.moveRuns.run({ org, from, to });
    st.moveAlerts.run({ org, from, to });
    st.unnameAlerts.run({ org, from });
  }

  return {
    /** The local org with the server's id, created on the server's plan and cycle if missing. */
    ensureOrg(a: Authority): boolean {
      if (st.org.get(a.orgId)) return false;
      syncPlan(a.plan);
      createOrganization(
        { sqlite, now: deps.now },
        { id: a.orgId, name: `Hosted org ${a.orgId}`, planId: a.plan.id, cycleStart: anchorOf(a) },
      );
      return true;
    },

    /** Applies pulled entries; returns how many were new. */
    applyPulled(orgId: string, entries: PulledEntry[]): number {
      let applied = 0;
      for (const e of entries) {
        const body = localTransferOf(orgId, e);
        if (!body) continue;
        const known = ledger.getTransfer(body.id);
        ledger.transfer(body, { force: true, at: e.createdAt });
        if (!known) applied++;
      }
      return applied;
    },

    /**
     * Corrects plan, cycle, usage counters and balance from the server's answer. `unacknowledgedMicro`
     * is the local usage still in the outbox.
     */
    correct(a: Authority, unacknowledgedMicro: number): LedgerCorrection[] {
      const orgId = a.orgId;
      const out: LedgerCorrection[] = [];
      const org = st.org.get(orgId)!;
      const planTermsChanged = syncPlan(a.plan);
      if (org.plan_id !== a.plan.id) {
        st.setPlan.run(a.plan.id, orgId);
        out.push({ what: 'plan', from: org.plan_id, to: a.plan.id });
      } else if (planTermsChanged) {
        out.push({ what: 'plan', from: a.plan.id, to: a.plan.id });
      }

      const local = cycleAt(org.cycle_start, a.serverTime);
      const cycleDiffers = local.cycle !== a.cycle.cycle || local.startsAt !== a.cycle.startsAt;
      // Same cycle today but another anchor still splits a later month differently (day 29-31).
      if (cycleDiffers || org.cycle_start !== anchorOf(a)) st.setCycleStart.run(anchorOf(a), orgId);
      if (cycleDiffers) {
        out.push({ what: 'cycle', from: local.cycle, to: a.cycle.cycle, startsAt: a.cycle.startsAt });
        if (local.cycle !== a.cycle.cycle) moveCycle(orgId, local.cycle, a.cycle.cycle);
      }

      const before = st.usage.get(orgId, a.cycle.cycle);
      const from = { messages: before?.messages ?? 0, aiRuns: before?.ai_runs ?? 0 };
      const to = {
        messages: Math.max(from.messages, a.usage.messages),
        aiRuns: Math.max(from.aiRuns, a.usage.aiRuns),
      };
      if (to.messages !== from.messages || to.aiRuns !== from.aiRuns) {
        st.raiseUsage.run({ org: orgId, cycle: a.cycle.cycle, ...to, at: deps.now() });
        out.push({ what: 'usage', cycle: a.cycle.cycle, from, to });
      }

      const posted = ledger.balance(orgId).postedMicro;
      const target = a.balanceMicro - unacknowledgedMicro;
      if (posted !== target) {
        const transfer = ledger.transfer(
          {
            id: deps.newId(),
            orgId,
            kind: 'ADJUSTMENT',
            amountMicro: target - posted,
            reference: `${CORRECTION_REFERENCE} (server time ${new Date(a.serverTime).toISOString()})`,
          },
          { force: true },
        );
        out.push({ what: 'balance', fromMicro: posted, toMicro: target, transferId: transfer.id });
      }
      return out;
    },
  };
}

export type AuthorityApplier = ReturnType<typeof createAuthority>;
