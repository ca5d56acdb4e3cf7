import type { z } from 'zod';
import type { Alert } from '../../contracts/compliance.ts';
import type { Check } from '../../contracts/health.ts';
import type {
  LedgerCorrectedEvent,
  SyncAlertKind,
  SyncResult,
  SyncStatus,
} from '../../contracts/ledger-sync.ts';
import {
  SYNC_MAX_AGE_MS,
  SYNC_MAX_SKEW_MS,
  SYNC_PUSH_MAX,
  type Authority,
  type PushRejectionSchema,
} from '../../contracts/sync.ts';
import type { Sqlite } from '../../db/connection.ts';
import { errorMessage } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { Ledger } from '../ledger.ts';
import type { Quotas } from '../quota.ts';
import { createAuthority } from './authority.ts';
import type { SyncClient } from './client.ts';
import { createReferralsReader, type ReferralsRead } from './referrals.ts';
import { prepareSyncStatements, toPushEntry, type SyncStateRow } from './store.ts';
import { uuidv7 } from '../../ids.ts';

/** Raises a sync alert once per (org, kind, subject); null when it was already raised. */
export interface SyncAlerts {
  raise(orgId: string, kind: SyncAlertKind, subject: string, message: string): Alert | null;
}

/*
 * One sync run: push the outbox in seq order (batches of SYNC_PUSH_MAX), drop what the server
 * settled, pull server entries from the stored cursor and apply them, then correct local state from
 * the server's last answer and record the sync. Each step commits on its own, so a crash anywhere
 * loses nothing: an entry leaves the outbox only after the server answered for it, and a repeated
 * push or pull is harmless (idempotent by id on both sides).
 *
 * Offline: the engine keeps working against the last corrected balance minus local usage since. Once
 * the last successful sync (or, before the first, the moment sync was set up) is older than the
 * grace period, overage is refused (quota-covered work still goes), an alert says why once per
 * outage, and the health check turns unhealthy.
 */

export interface LedgerSyncDeps {
  sqlite: Sqlite;
  ledger: Ledger;
  quotas: Quotas;
  client: SyncClient;
  /** The state row's key (see endpointKey). */
  endpoint: string;
  /** The server's device this token is (see deviceKey). */
  device: string;
  /** LEDGER_OFFLINE_GRACE_H in ms. */
  graceMs: number;
  /** `ledger.corrected` events go here. */
  events: { emit(event: LedgerCorrectedEvent): void };
  /** Ledger events raised inside the sync's transactions wait here for the commit. */
  txEvents: { flush(): void; discard(): void };
  alerts: SyncAlerts;
  log: Logger;
  now?: () => number;
  newId?: () => string;
  /** Entries per pull page. */
  pullLimit?: number;
  /** Push batches per run at most (the rest goes next run). */
  maxBatches?: number;
}

export interface LedgerSync {
  /** One sync run; concurrent calls share it. Throws when the server cannot be reached (recorded). */
  run(signal?: AbortSignal): Promise<SyncResult>;
  status(): SyncStatus;
  /** Why overage is refused now (offline past the grace period), or null: the credit guard's hook. */
  overageRefusal(orgId: string): string | null;
  /** Raises the offline alert (once per outage) when past the grace period; true when offline. */
  checkOffline(): boolean;
  health(): Check;
  /** The org's referral report from the hosted ledger (cached; see referrals.ts). */
  referrals(orgId: string): Promise<ReferralsRead>;
}

type Rejection = z.infer<typeof PushRejectionSchema>;

const iso = (ms: number) => new Date(ms).toISOString();

export function createLedgerSync(deps: LedgerSyncDeps): LedgerSync {
  const { sqlite, ledger, client, endpoint, log } = deps;
  const now = deps.now ?? Date.now;
  const newId = deps.newId ?? uuidv7;
  const pullLimit = deps.pullLimit ?? 500;
  const maxBatches = deps.maxBatches ?? 100;
  const st = prepareSyncStatements(sqlite);
  const authority = createAuthority({ sqlite, ledger, now, newId });
  const allOrgs = sqlite.prepare<[], { id: string }>(`SELECT id FROM organizations ORDER BY id`);
  const outboxCount = sqlite.prepare<[], { n: number }>(`SELECT count(*) AS n FROM ledger_outbox`);
  st.ensureState.run({ endpoint, device: deps.device, at: now() });

  const state = (): SyncStateRow => st.state.get(endpoint)!;
  const referrals = createReferralsReader({ client, linkedOrg: () => state().org_id, now });
  /** Runs `fn` in an IMMEDIATE transaction; ledger events are released only after the commit. */
  function commit<T>(fn: () => T): T {
    let out: T;
    try {
      out = sqlite.transaction(fn).immediate();
    } catch (err) {
      deps.txEvents.discard();
      throw err;
    }
    deps.txEvents.flush();
    return out;
  }

  /** Since when this desktop has been out of step: the last sync, or when sync was set up. */
  const offlineSince = (s: SyncStateRow) => s.last_sync_at ?? s.created_at;
  const isOffline = (s: SyncStateRow) => now() - offlineSince(s) > deps.graceMs;
  const graceH = () => Math.round((deps.graceMs / 3_600_000) * 100) / 100;
  const offlineReason = (s: SyncStateRow) =>
    s.last_sync_at === null
      ? `this desktop has not synced with the hosted ledger since sync was set up at ${iso(s.created_at)} (more than LEDGER_OFFLINE_GRACE_H = ${graceH()} h)`
      : `this desktop has not synced with the hosted ledger since ${iso(s.last_sync_at)} (more than LEDGER_OFFLINE_GRACE_H = ${graceH()} h)`;

  /**
   * The org's counters as this desktop sees them (`usage`, kept for the max rule of older servers) and
   * what it did itself (`deviceUsage`, which the server sums over the org's devices). The server knows
   * a device by its token: what this desktop reported under its other tokens of the org this cycle is
   * counted there already, so this token reports only the rest (a desktop given a new token would
   * otherwise count the cycle twice).
   */
  function usageReports(orgId: string) {
    const u = deps.quotas.usage(orgId);
    const own = st.ownUsage.get(orgId, u.cycle);
    const elsewhere = st.reportedElsewhere.get({ org: orgId, cycle: u.cycle, device: deps.device })!;
    return {
      usage: { cycle: u.cycle, messages: u.messages, aiRuns: u.aiRuns },
      deviceUsage: {
        cycle: u.cycle,
        messages: Math.max(0, (own?.messages ?? 0) - elsewhere.messages),
        aiRuns: Math.max(0, (own?.aiRuns ?? 0) - elsewhere.aiRuns),
      },
    };
  }

  async function link(signal?: AbortSignal): Promise<string> {
    const s = state();
    // An empty push is the cheapest way to learn which org the token names.
    const res = await client.push({ lastPushedSeq: s.last_pushed_seq, entries: [] }, signal);
    commit(() => {
      if (authority.ensureOrg(res))
        log.info({ orgId: res.orgId }, 'created the local org of the hosted ledger');
      st.link.run(res.orgId, endpoint);
    });
    log.info({ orgId: res.orgId }, 'linked to the hosted ledger');
    return res.orgId;
  }

  /** How far this desktop's clock is ahead of the server's (ms; negative when behind), as last measured. */
  function lastClockOffset(): number {
    const s = state();
    return s.last_sync_at === null || s.server_time === null ? 0 : s.last_sync_at - s.server_time;
  }

  /**
   * An entry's time moved onto the server's clock. A clock within a minute of the server's is left
   * alone (the server allows 5): the entry keeps exactly its local time. Never later than this clock's
   * now: an entry stamped while the clock ran ahead, corrected since, would be ahead of the server on
   * every offset measured from now on.
   */
  const onServerClock = (createdAt: number, localNow: number, offset: number) =>
    Math.min(createdAt, localNow) - (Math.abs(offset) < 60_000 ? 0 : offset);

  async function push(orgId: string, signal?: AbortSignal) {
    let pushed = 0;
    const rejected: Rejection[] = [];
    let offset = lastClockOffset();
    /** Entries already sent again in this run after a refusal on this clock: once is enough. */
    const resent = new Set<string>();
    for (let batch = 0; batch < maxBatches; batch++) {
      const rows = st.outboxBatch.all(orgId, SYNC_PUSH_MAX);
      // An entry's time goes on the server's clock once, at its first push, and stays: a repeated push
      // (after a lost answer) must have the same body.
      const localNow = now();
      const entries = commit(() =>
        rows.map((r) => {
          const at = r.pushed_created_at ?? onServerClock(r.created_at, localNow, offset);
          if (r.pushed_created_at === null) st.setPushTime.run(at, r.id);
          return toPushEntry(r, at);
        }),
      );
      const reports = usageReports(orgId);
      const sentAt = now();
      const res = await client.push({ lastPushedSeq: state().last_pushed_seq, entries, ...reports }, signal);
      offset = Math.round((sentAt + now()) / 2) - res.serverTime;
      const pushedAt = new Map(entries.map((e) => [e.id, e.createdAt]));
      const localAt = new Map(rows.map((r) => [r.id, r.created_at]));
      // Refused as ahead of the server's clock (the offset was not known yet, or the clock jumped): not
      // stored there, so they stay and go again on the clock just measured.
      const ahead = (r: Rejection) => (pushedAt.get(r.id) ?? 0) > res.serverTime + SYNC_MAX_SKEW_MS;
      // Refused as older than 35 days only because this clock was behind (a clock weeks slow before
      // the first sync measured it): on the clock just measured it is inside the bounds, so it goes
      // again, once per run. Refused again after that, it is really that old and is settled.
      const oldest = res.serverTime - SYNC_MAX_AGE_MS;
      const slowClock = (r: Rejection) => {
        const local = localAt.get(r.id);
        return (
          r.error === 'VALIDATION_ERROR' &&
          !resent.has(r.id) &&
          local !== undefined &&
          (pushedAt.get(r.id) ?? oldest) < oldest &&
          onServerClock(local, now(), offset) >= oldest
        );
      };
      const retried = new Set(res.rejected.filter((r) => ahead(r) || slowClock(r)).map((r) => r.id));
      const again = [...retried].filter((id) => !resent.has(id));
      for (const id of again) resent.add(id);
      const settled = commit(() => {
        let n = 0;
        for (const id of res.accepted) n += st.settle.run(id).changes;
        for (const r of res.rejected) {
          if (retried.has(r.id)) st.setPushTime.run(null, r.id);
          else n += st.settle.run(r.id).changes;
        }
        st.pushed.run(res.lastPushedSeq, endpoint);
        // Taken only under the server's current cycle (any other label is ignored there).
        if (reports.deviceUsage.cycle === res.cycle.cycle)
          st.reported.run({ endpoint, ...reports.deviceUsage });
        return n;
      });
      pushed += res.accepted.length;
      rejected.push(...res.rejected.filter((r) => !retried.has(r.id)));
      // Stop when the outbox is drained, or when the server settled none of the batch (next run
      // retries), unless entries wait to go again on the clock just measured.
      if (again.length === 0 && (rows.length < SYNC_PUSH_MAX || settled === 0)) break;
    }
    if (rejected.length > 0) {
      const first = rejected[0]!;
      log.error(
        { orgId, rejected: rejected.length, first },
        'the hosted ledger rejected local usage entries',
      );
      deps.alerts.raise(
        orgId,
        'ledger_rejected',
        first.id,
        `The hosted ledger rejected ${rejected.length} local usage ${rejected.length === 1 ? 'entry' : 'entries'} ` +
          `(first: ${first.id}, ${first.error}: ${first.message}); the server's balance stands`,
      );
    }
    return { pushed, rejected: rejected.length };
  }

  async function pull(orgId: string, signal?: AbortSignal): Promise<{ pulled: number; last: Authority }> {
    let pulled = 0;
    let cursor = state().cursor ?? undefined;
    for (;;) {
      const res = await client.pull(
        { ...(cursor === undefined ? {} : { cursor }), limit: pullLimit },
        signal,
      );
      if (res.orgId !== orgId)
        throw new Error(`the hosted ledger answered for org ${res.orgId}, not ${orgId}`);
      pulled += commit(() => {
        const n = authority.applyPulled(orgId, res.entries);
        st.cursor.run(res.nextCursor, endpoint);
        return n;
      });
      const moved = res.nextCursor !== cursor;
      cursor = res.nextCursor;
      if (!res.hasMore || !moved) return { pulled, last: res };
    }
  }

  async function runOnce(signal?: AbortSignal): Promise<SyncResult> {
    try {
      const orgId = state().org_id ?? (await link(signal));
      const { pushed, rejected } = await push(orgId, signal);
      const { pulled, last } = await pull(orgId, signal);
      // Pulled entries may be commissions: the referral report has news.
      if (pulled > 0) referrals.invalidate();
      const corrections = commit(() => {
        const found = authority.correct(last, st.unacknowledged.get(orgId)!.micro);
        st.synced.run({ at: now(), balance: last.balanceMicro, serverTime: last.serverTime, endpoint });
        return found;
      });
      for (const correction of corrections) {
        log.info({ orgId, correction }, 'corrected from the hosted ledger');
        deps.events.emit({
          type: 'ledger.corrected',
          orgId,
          ts: now(),
          serverTime: last.serverTime,
          correction,
        });
      }
      return { ok: true, pushed, rejected, pulled, corrections: corrections.length };
    } catch (err) {
      st.attempt.run(now(), errorMessage(err), endpoint);
      throw err;
    } finally {
      sync.checkOffline();
    }
  }

  let running: Promise<SyncResult> | undefined;
  const sync: LedgerSync = {
    run(signal) {
      running ??= runOnce(signal).finally(() => (running = undefined));
      return running;
    },

    status() {
      const s = state();
      const pending = s.org_id ? st.unacknowledged.get(s.org_id)!.n : outboxCount.get()!.n;
      return {
        orgId: s.org_id,
        lastSyncAt: s.last_sync_at,
        lastAttemptAt: s.last_attempt_at,
        lastError: s.last_error,
        pendingEntries: pending,
        balanceMicro: s.balance_micro,
        offline: isOffline(s),
      };
    },

    overageRefusal() {
      const s = state();
      if (!isOffline(s)) return null;
      return `Overage is paused: ${offlineReason(s)}. Messages within the plan still go; overage resumes after the next successful sync.`;
    },

    checkOffline() {
      const s = state();
      if (!isOffline(s)) return false;
      const orgs = s.org_id ? [s.org_id] : allOrgs.all().map((o) => o.id);
      // Once per outage: the subject is the moment the desktop went out of step.
      for (const orgId of orgs) {
        const raised = deps.alerts.raise(
          orgId,
          'ledger_offline',
          `since:${offlineSince(s)}`,
          `Overage is refused: ${offlineReason(s)}${s.last_error ? `; last error: ${s.last_error}` : ''}`,
        );
        if (raised)
          log.warn({ orgId, since: offlineSince(s) }, 'offline past the grace period: overage refused');
      }
      return true;
    },

    health() {
      const s = state();
      const lastError = s.last_error ? `; last attempt failed: ${s.last_error}` : '';
      const failed = s.last_error ? { lastError: s.last_error } : {};
      if (isOffline(s)) {
        return {
          status: 'unhealthy',
          reason: `${offlineReason(s)}: overage refused${lastError}`,
          detail: {
            code: 'ledger_offline',
            since: offlineSince(s),
            everSynced: s.last_sync_at !== null,
            graceH: graceH(),
            ...failed,
          },
        };
      }
      if (s.last_sync_at === null) {
        return {
          status: 'healthy',
          reason: `not synced yet${lastError}`,
          detail: { code: 'ledger_not_synced_yet', ...failed },
        };
      }
      return {
        status: 'healthy',
        reason: `last sync ${iso(s.last_sync_at)}${lastError}`,
        detail: { code: 'ledger_synced', at: s.last_sync_at, ...failed },
      };
    },

    referrals: (orgId) => referrals.read(orgId),
  };
  return sync;
}
