import { z } from 'zod';

/**
 * What a check's `reason` says, as data: a client puts it in its user's language (the desktop says it
 * in Spanish or English); `reason` is the same in English, for logs and scripts.
 */
export const CheckDetailSchema = z.discriminatedUnion('code', [
  /** The service's address is not configured (`setting` names the variable). */
  z.object({ code: z.literal('not_configured'), setting: z.string() }),
  /** The probe failed: no answer in time, refused, an HTTP error (`error` is the technical text). */
  z.object({ code: z.literal('unreachable'), error: z.string() }),
  z.object({ code: z.literal('docker_unreachable'), error: z.string() }),
  z.object({ code: z.literal('cage_image_missing'), image: z.string() }),
  z.object({ code: z.literal('cage_runtime_missing'), runtime: z.string(), available: z.array(z.string()) }),
  z.object({ code: z.literal('cage_ready'), image: z.string(), runtime: z.string().optional() }),
  /** Synced with the hosted ledger at `at` (ms); `lastError`: the latest attempt since failed. */
  z.object({ code: z.literal('ledger_synced'), at: z.number(), lastError: z.string().optional() }),
  z.object({ code: z.literal('ledger_not_synced_yet'), lastError: z.string().optional() }),
  /** Out of step since `since` (the last sync, or when sync was set up) past the grace: overage refused. */
  z.object({
    code: z.literal('ledger_offline'),
    since: z.number(),
    everSynced: z.boolean(),
    graceH: z.number(),
    lastError: z.string().optional(),
  }),
]);
export type CheckDetail = z.infer<typeof CheckDetailSchema>;

export const CheckSchema = z.object({
  status: z.enum(['healthy', 'unhealthy', 'disabled']),
  reason: z.string().optional(),
  detail: CheckDetailSchema.optional(),
});
export type Check = z.infer<typeof CheckSchema>;

/** `GET /api/v1/health`: only the database and the queue make the engine unhealthy (503). */
export const HealthSchema = z.object({
  status: z.enum(['ok', 'degraded']),
  service: z.literal('engine'),
  uptime: z.number(),
  checks: z.record(z.string(), CheckSchema),
});
export type Health = z.infer<typeof HealthSchema>;
