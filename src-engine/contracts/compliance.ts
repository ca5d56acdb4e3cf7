import { z } from 'zod';

export const AlertKindSchema = z.enum([
  'quota',
  'low_credit',
  'instance_banned',
  'agent_failed',
  // The hosted ledger sync: offline past the grace period, entries the server refused.
  'ledger_offline',
  'ledger_rejected',
]);
export type AlertKind = z.infer<typeof AlertKindSchema>;

export const AlertSchema = z.object({
  id: z.string(),
  orgId: z.string(),
  kind: AlertKindSchema,
  /** 70 | 85 | 95 for quota alerts. */
  threshold: z.number().int().nullable(),
  cycle: z.string().nullable(),
  message: z.string(),
  createdAt: z.number().int(),
  acknowledgedAt: z.number().int().nullable(),
});
export type Alert = z.infer<typeof AlertSchema>;
