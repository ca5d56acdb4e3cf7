import type { ReferralsSource } from '../../contracts/billing.ts';
import type { ReferralsReport } from '../../contracts/hosted-ledger.ts';
import { errorMessage } from '../../errors.ts';
import type { SyncClient } from './client.ts';

export interface ReferralsRead {
  source: Exclude<ReferralsSource, 'unconfigured'>;
  report: ReferralsReport | null;
  fetchedAt: number | null;
  error: string | null;
}

export interface ReferralsReader {
  read(orgId: string): Promise<ReferralsRead>;
  /** Forget the cached report (new commissions were pulled). */
  invalidate(): void;
}

/** A report younger than this is served from memory: the Referrals screen asks on every ledger event. */
export const REFERRALS_FRESH_MS = 60_000;

/**
 * The org's referral report from the hosted ledger through the device token. Only the org the token
 * names can be read. The last good report is kept in memory, served while fresh and, when the
 * server cannot be reached, served with the reason, so the screen keeps its data through an outage.
 * Concurrent reads share one request. Never throws: a refusal of the hosted ledger (401, 404) is
 * the report's problem, not the caller's session.
 */
export function createReferralsReader(deps: {
  client: Pick<SyncClient, 'referrals'>;
  /** The org the device token names; null before the first sync learnt it. */
  linkedOrg: () => string | null;
  now: () => number;
  freshMs?: number;
}): ReferralsReader {
  const freshMs = deps.freshMs ?? REFERRALS_FRESH_MS;
  let cached: { orgId: string; report: ReferralsReport; fetchedAt: number; staleAt: number } | undefined;
  let inflight: Promise<ReferralsRead> | undefined;
  let generation = 0;

  async function fetchReport(orgId: string): Promise<ReferralsRead> {
    const gen = generation;
    try {
      const report = await deps.client.referrals(orgId);
      const fetchedAt = deps.now();
      if (gen === generation) cached = { orgId, report, fetchedAt, staleAt: fetchedAt + freshMs };
      return { source: 'ok', report, fetchedAt, error: null };
    } catch (err) {
      const last = cached?.orgId === orgId ? cached : undefined;
      return {
        source: 'unreachable',
        report: last?.report ?? null,
        fetchedAt: last?.fetchedAt ?? null,
        error: errorMessage(err),
      };
    }
  }

  return {
    read(orgId) {
      const linked = deps.linkedOrg();
      if (linked === null)
        return Promise.resolve({
          source: 'unlinked',
          report: null,
          fetchedAt: null,
          error: 'waiting for the first sync with the hosted ledger',
        });
      if (linked !== orgId)
        return Promise.resolve({
          source: 'other_org',
          report: null,
          fetchedAt: null,
          error: `LEDGER_TOKEN belongs to organization ${linked}, not this one`,
        });
      if (cached?.orgId === orgId && deps.now() < cached.staleAt) {
        const { report, fetchedAt } = cached;
        return Promise.resolve({ source: 'ok', report, fetchedAt, error: null });
      }
      if (!inflight) {
        const p: Promise<ReferralsRead> = fetchReport(orgId).finally(() => {
          if (inflight === p) inflight = undefined;
        });
        inflight = p;
      }
      return inflight;
    },
    invalidate() {
      // A read under way may carry the old report: it is answered but not kept, and not shared.
      generation++;
      inflight = undefined;
      if (cached) cached.staleAt = 0;
    },
  };
}
