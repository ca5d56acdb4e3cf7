import { z } from 'zod';
import { pageOf } from './common.ts';
import { ReferralsReportSchema } from './hosted-ledger.ts';
import { BalanceSchema, CycleSchema, QuotaSchema, TransferSchema } from './ledger.ts';

/** COMMISSION credited to the org in its current cycle, from the synced local ledger (works offline). */
const CommissionsSchema = z.object({ amountMicro: z.number().int(), count: z.number().int() });

/** `GET /api/v1/billing/balance`: money in micro-credits (1 credit = 1,000,000). */
export const BillingBalanceSchema = BalanceSchema.extend({
  quota: QuotaSchema,
  /** This cycle's (`quota.cycle`) commissions. */
  commissions: CommissionsSchema,
});
export type BillingBalance = z.infer<typeof BillingBalanceSchema>;

export const TransactionsPageSchema = pageOf(TransferSchema);
export type TransactionsPage = z.infer<typeof TransactionsPageSchema>;

/**
 * How the hosted ledger answers for this org's referrals: `unconfigured` (LEDGER_URL or LEDGER_TOKEN
 * unset), `unlinked` (set, but the first sync has not yet learnt which org the token names),
 * `other_org` (the token names another org of this desktop), `ok`, `unreachable` (the last read
 * failed; the report, if any, is the last good one).
 */
export const ReferralsSourceSchema = z.enum(['unconfigured', 'unlinked', 'other_org', 'ok', 'unreachable']);
export type ReferralsSource = z.infer<typeof ReferralsSourceSchema>;

/** `GET /api/v1/billing/referrals`: the hosted ledger's referral report and this cycle's commissions. */
export const ReferralsViewSchema = z.object({
  source: ReferralsSourceSchema,
  /** From the hosted ledger (`GET /v1/orgs/:id/referrals`); null until it has answered once. */
  report: ReferralsReportSchema.nullable(),
  /** When `report` was read (engine time). */
  fetchedAt: z.number().int().nullable(),
  /** Why there is no fresh report. */
  error: z.string().nullable(),
  /** The same as `billing:balance`'s, with its cycle. */
  commissions: CommissionsSchema.extend({ cycle: CycleSchema }),
});
export type ReferralsView = z.infer<typeof ReferralsViewSchema>;
