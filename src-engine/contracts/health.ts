import { z } from 'zod';

export const CheckSchema = z.object({
  status: z.enum(['healthy', 'unhealthy', 'disabled']),
  reason: z.string().optional(),
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
