import { z } from 'zod';
import { pageOf } from './common.ts';
import { BalanceSchema, QuotaSchema, TransferSchema } from './ledger.ts';

/** `GET /api/v1/billing/balance`: money in micro-credits (1 credit = 1,000,000). */
export const BillingBalanceSchema = BalanceSchema.extend({ quota: QuotaSchema });
export type BillingBalance = z.infer<typeof BillingBalanceSchema>;

export const TransactionsPageSchema = pageOf(TransferSchema);
export type TransactionsPage = z.infer<typeof TransactionsPageSchema>;
