import { orgDelta, type LedgerKind } from '../contracts/ledger.ts';

/*
 * Accounts. Every entry moves money between an org's credit account and one system account, so each
 * transfer writes exactly two entries whose amounts sum to zero (credit = +, debit = -).
 *
 *   org:<orgId>:credits   the org's prepaid credit; its balance is what the org can spend (>= 0
 *                         unless its plan allows overdraft).
 *   system:topups         where bought credit comes from (goes negative as orgs top up)   TOPUP
 *   system:usage          revenue from usage: overage messages and extra agent runs       USAGE_*
 *   system:commissions    where referral commissions come from                              COMMISSION
 *   system:plans          plan fees paid out of credit                                      PLAN_CHARGE
 *   system:adjustments    counterpart of manual corrections and local top-ups (either sign) ADJUSTMENT
 *
 * The sum of all account balances is always zero.
 */
export const SYSTEM_ACCOUNTS = {
  TOPUP: 'system:topups',
  USAGE_MESSAGE: 'system:usage',
  USAGE_AGENT: 'system:usage',
  COMMISSION: 'system:commissions',
  PLAN_CHARGE: 'system:plans',
  ADJUSTMENT: 'system:adjustments',
} as const satisfies Record<LedgerKind, string>;

export const orgAccount = (orgId: string): string => `org:${orgId}:credits`;

/** The two entries of a transfer: [account, signed amount], summing to zero. */
export function transferLegs(orgId: string, kind: LedgerKind, amountMicro: number): [string, number][] {
  const delta = orgDelta(kind, amountMicro);
  return [
    [orgAccount(orgId), delta],
    [SYSTEM_ACCOUNTS[kind], -delta],
  ];
}
