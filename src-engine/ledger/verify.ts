import type { VerifyReport } from '../contracts/ledger.ts';
import type { Sqlite } from '../db/connection.ts';
import { orgAccount } from './accounts.ts';

/**
 * Proves the ledger's invariants from the entries themselves, in one read snapshot:
 * every cached balance equals the sum of its account's entries (and no account with entries lacks
 * one), every org's cached pending total equals the sum of its pending holds, every transfer has entries summing to zero, and every captured hold posted at most what it
 * held, through a transfer of exactly that amount. Returns the discrepancies; `ok` when there are none.
 */
export function verifyLedger(sqlite: Sqlite): VerifyReport {
  return sqlite.transaction((): VerifyReport => {
    const balanceMismatches = sqlite
      .prepare<[], { account: string; cachedMicro: number; derivedMicro: number }>(
        `WITH derived AS (SELECT account, sum(amount_micro) AS n FROM ledger_entries GROUP BY account)
         SELECT b.account, b.balance_micro AS cachedMicro, coalesce(d.n, 0) AS derivedMicro
           FROM account_balances b LEFT JOIN derived d ON d.account = b.account
          WHERE b.balance_micro IS NOT coalesce(d.n, 0)
         UNION ALL
         SELECT d.account, 0, d.n FROM derived d
          WHERE NOT EXISTS (SELECT 1 FROM account_balances b WHERE b.account = d.account)
         ORDER BY 1`,
      )
      .all();
    // Each org's cached pending total against the sum of its pending holds (a missing side counts as
    // 0), reported as the pseudo-account `<org account>:pending`.
    const pendingMismatches = sqlite
      .prepare<[], { orgId: string; cachedMicro: number; derivedMicro: number }>(
        `WITH derived AS (SELECT org_id, sum(amount_micro) AS n FROM reservations
                           WHERE state = 'pending' GROUP BY org_id)
         SELECT b.org_id AS orgId, b.pending_micro AS cachedMicro, coalesce(d.n, 0) AS derivedMicro
           FROM account_balances b LEFT JOIN derived d ON d.org_id = b.org_id
          WHERE b.org_id IS NOT NULL AND b.pending_micro IS NOT coalesce(d.n, 0)
         UNION ALL
         SELECT d.org_id, 0, d.n FROM derived d
          WHERE NOT EXISTS (SELECT 1 FROM account_balances b WHERE b.org_id = d.org_id)
         ORDER BY 1`,
      )
      .all()
      .map(({ orgId, ...m }) => ({ account: `${orgAccount(orgId)}:pending`, ...m }));
    const unbalancedTransfers = sqlite
      .prepare<[], { transferId: string; sumMicro: number; entries: number }>(
        `SELECT t.id AS transferId, coalesce(sum(e.amount_micro), 0) AS sumMicro, count(e.id) AS entries
           FROM ledger_transfers t LEFT JOIN ledger_entries e ON e.transfer_id = t.id
          GROUP BY t.id HAVING sumMicro != 0 OR entries = 0
         UNION ALL
         SELECT e.transfer_id, sum(e.amount_micro), count(*) FROM ledger_entries e
          WHERE NOT EXISTS (SELECT 1 FROM ledger_transfers t WHERE t.id = e.transfer_id)
          GROUP BY e.transfer_id
         ORDER BY 1`,
      )
      .all();
    const badReservations = sqlite
      .prepare<[], { reservationId: string; problem: string }>(
        `SELECT r.id AS reservationId,
                CASE WHEN r.captured_micro IS NULL OR r.captured_micro < 0 THEN 'posted without a captured amount'
                     WHEN r.captured_micro > r.amount_micro THEN 'captured more than held'
                     WHEN r.captured_micro > 0 AND t.id IS NULL THEN 'captured without a transfer'
                     ELSE 'transfer amount differs from the captured amount' END AS problem
           FROM reservations r LEFT JOIN ledger_transfers t ON t.id = r.transfer_id
          WHERE r.state = 'posted'
            AND (r.captured_micro IS NULL OR r.captured_micro < 0 OR r.captured_micro > r.amount_micro
                 OR (r.captured_micro > 0 AND (t.id IS NULL OR t.amount_micro != r.captured_micro
                                               OR t.reservation_id IS NOT r.id)))
         UNION ALL
         SELECT r.id, 'resolved ' || r.state || ' but has a transfer' FROM reservations r
          WHERE r.state IN ('voided', 'expired', 'pending') AND r.transfer_id IS NOT NULL
         ORDER BY 1`,
      )
      .all();
    return {
      ok:
        balanceMismatches.length +
          pendingMismatches.length +
          unbalancedTransfers.length +
          badReservations.length ===
        0,
      balanceMismatches: [...balanceMismatches, ...pendingMismatches],
      unbalancedTransfers,
      badReservations,
    };
  })();
}
