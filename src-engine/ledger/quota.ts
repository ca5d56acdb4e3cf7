import type { Cycle, Plan, Price, PriceBook, PriceKey, Quota, Usage } from '../contracts/ledger.ts';
import type { Sqlite } from '../db/connection.ts';
import { AppError } from '../errors.ts';
import { cycleAt } from './cycle.ts';

/*
 * Plans, the price book and monthly usage. All of it is data in SQLite: seeded by migration
 * 0002_seed (Free/Starter/Partner; `message.overage` = 0.05 credits; `agent.run` = 1 credit, the
 * price of an agent run beyond the plan's included runs, i.e. Free's second run of a cycle), later
 * replaced by what the hosted ledger syncs. Usage is counted per org and billing cycle (see
 * cycle.ts for the rule); counters include overage, so `used` may exceed `included`.
 */

/** A `plans` row. */
export interface PlanRow {
  id: string;
  name: string;
  price_micro: number;
  messages_included: number;
  ai_runs_included: number | null;
  max_instances: number;
  white_label: number;
  rate_limit_per_min: number;
  overdraft_micro: number;
  updated_at: number;
}

const toPlan = (r: PlanRow): Plan => ({
  id: r.id,
  name: r.name,
  priceMicro: r.price_micro,
  messagesIncluded: r.messages_included,
  aiRunsIncluded: r.ai_runs_included,
  maxInstances: r.max_instances,
  whiteLabel: r.white_label === 1,
  rateLimitPerMin: r.rate_limit_per_min,
  overdraftMicro: r.overdraft_micro,
  updatedAt: r.updated_at,
});

export interface UsageDelta {
  messages?: number;
  aiRuns?: number;
}

export interface BumpResult {
  usage: Usage;
  /** How many of the units just counted fell beyond the plan's included amount (these cost credit). */
  overQuota: { messages: number; aiRuns: number };
}

export interface Quotas {
  plans(): Plan[];
  plan(id: string): Plan;
  /** The plan the org is on now. */
  orgPlan(orgId: string): Plan;
  /** Its plan's requests per minute (what the guard reads on every command). */
  rateLimitPerMin(orgId: string): number;
  priceBook(): PriceBook;
  /** The price of one unit, in micro-credits. */
  price(key: PriceKey): number;
  /** The org's billing cycle at `at` (default now). */
  cycle(orgId: string, at?: number): Cycle;
  usage(orgId: string): Usage;
  /**
   * Adds to the org's counters for the current cycle atomically (deltas may be negative to undo a
   * count; counters never go below 0). Inside a caller's transaction it joins it as a savepoint.
   */
  bumpUsage(orgId: string, delta: UsageDelta): BumpResult;
  quota(orgId: string): Quota;
}

export function createQuotas(deps: { sqlite: Sqlite; now?: () => number }): Quotas {
  const { sqlite } = deps;
  const now = deps.now ?? Date.now;
  const st = {
    plans: sqlite.prepare<[], PlanRow>(`SELECT * FROM plans ORDER BY price_micro, id`),
    plan: sqlite.prepare<[string], PlanRow>(`SELECT * FROM plans WHERE id = ?`),
    prices: sqlite.prepare<
      [],
      { key: string; amount_micro: number; description: string; updated_at: number }
    >(`SELECT * FROM price_book ORDER BY key`),
    price: sqlite.prepare<[string], { amount_micro: number }>(
      `SELECT amount_micro FROM price_book WHERE key = ?`,
    ),
    // Correlated subquery, not a join: better-sqlite3 runs this form several times faster.
    rateLimit: sqlite.prepare<[string], { n: number }>(
      `SELECT (SELECT rate_limit_per_min FROM plans WHERE id = o.plan_id) AS n FROM organizations o WHERE o.id = ?`,
    ),
    org: sqlite.prepare<[string], PlanRow & { org_id: string; cycle_start: number }>(
      `SELECT p.*, o.id AS org_id, o.cycle_start FROM organizations o JOIN plans p ON p.id = o.plan_id
       WHERE o.id = ?`,
    ),
    usage: sqlite.prepare<[string, string], { messages: number; ai_runs: number }>(
      `SELECT messages, ai_runs FROM usage_counters WHERE org_id = ? AND cycle = ?`,
    ),
    bump: sqlite.prepare<
      { org: string; cycle: string; messages: number; aiRuns: number; at: number },
      { messages: number; ai_runs: number }
    >(
      `INSERT INTO usage_counters (org_id, cycle, messages, ai_runs, updated_at)
       VALUES (@org, @cycle, max(@messages, 0), max(@aiRuns, 0), @at)
       ON CONFLICT(org_id, cycle) DO UPDATE SET messages = max(messages + @messages, 0),
                                                ai_runs = max(ai_runs + @aiRuns, 0), updated_at = @at
       RETURNING messages, ai_runs`,
    ),
  };

  function orgOrThrow(orgId: string) {
    const row = st.org.get(orgId);
    if (!row) throw new AppError('NOT_FOUND', `Organization ${orgId} not found`);
    return row;
  }

  const over = (after: number, added: number, included: number | null) =>
    included === null || added <= 0 ? 0 : Math.max(0, Math.min(added, after - included));

  const bumpTx = sqlite.transaction((orgId: string, messages: number, aiRuns: number, at: number) => {
    const org = orgOrThrow(orgId);
    const { cycle } = cycleAt(org.cycle_start, at);
    const row = st.bump.get({ org: orgId, cycle, messages, aiRuns, at })!;
    return {
      usage: { orgId, cycle, messages: row.messages, aiRuns: row.ai_runs },
      overQuota: {
        messages: over(row.messages, messages, org.messages_included),
        aiRuns: over(row.ai_runs, aiRuns, org.ai_runs_included),
      },
    };
  });

  function readUsage(orgId: string, cycleStart: number, at: number): Usage {
    const { cycle } = cycleAt(cycleStart, at);
    const row = st.usage.get(orgId, cycle);
    return { orgId, cycle, messages: row?.messages ?? 0, aiRuns: row?.ai_runs ?? 0 };
  }

  return {
    plans: () => st.plans.all().map(toPlan),
    plan(id) {
      const row = st.plan.get(id);
      if (!row) throw new AppError('NOT_FOUND', `Plan ${id} not found`);
      return toPlan(row);
    },
    orgPlan: (orgId) => toPlan(orgOrThrow(orgId)),
    rateLimitPerMin(orgId) {
      const row = st.rateLimit.get(orgId);
      if (!row) throw new AppError('NOT_FOUND', `Organization ${orgId} not found`);
      return row.n;
    },
    priceBook() {
      const book: PriceBook = {};
      for (const r of st.prices.all()) {
        const p: Price = {
          key: r.key,
          amountMicro: r.amount_micro,
          description: r.description,
          updatedAt: r.updated_at,
        };
        book[r.key] = p;
      }
      return book;
    },
    price(key) {
      const row = st.price.get(key);
      if (!row) throw new AppError('INTERNAL_ERROR', `Price "${key}" is missing from the price book`);
      return row.amount_micro;
    },
    cycle: (orgId, at = now()) => cycleAt(orgOrThrow(orgId).cycle_start, at),
    usage(orgId) {
      return readUsage(orgId, orgOrThrow(orgId).cycle_start, now());
    },
    bumpUsage(orgId, delta) {
      const messages = delta.messages ?? 0;
      const aiRuns = delta.aiRuns ?? 0;
      if (!Number.isSafeInteger(messages) || !Number.isSafeInteger(aiRuns)) {
        throw new AppError('VALIDATION_ERROR', 'Usage deltas must be integers');
      }
      return bumpTx.immediate(orgId, messages, aiRuns, now());
    },
    quota(orgId) {
      const at = now();
      const org = orgOrThrow(orgId);
      const cycle = cycleAt(org.cycle_start, at);
      const usage = readUsage(orgId, org.cycle_start, at);
      return {
        orgId,
        plan: toPlan(org),
        cycle,
        messages: { used: usage.messages, included: org.messages_included },
        aiRuns: { used: usage.aiRuns, included: org.ai_runs_included },
      };
    },
  };
}
