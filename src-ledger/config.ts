import { resolve } from 'node:path';
import { z } from 'zod';
import { numberFromText } from '../src-engine/contracts/common.ts';

/**
 * The hosted ledger server's settings, by environment variable. A bad value stops start-up with a
 * message naming the variable. Secrets (`DATABASE_URL`, `LEDGER_ADMIN_TOKEN`, `STRIPE_WEBHOOK_SECRET`)
 * never reach a log line.
 */
export const LedgerConfigSchema = z.object({
  LEDGER_HOST: z.string().min(1).default('127.0.0.1'),
  LEDGER_PORT: numberFromText(z.number().int().min(0).max(65535).default(7430)),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  LEDGER_DATA_DIR: z.string().min(1).default('.data/ledger'),
  /** Required: the server refuses to start without the operator's token (make one with openssl rand -hex 32). */
  LEDGER_ADMIN_TOKEN: z.string().min(16),
  STRIPE_WEBHOOK_SECRET: z.string().min(16).optional(),
  LEDGER_BILLING_INTERVAL_S: numberFromText(z.number().int().min(0).max(86_400).default(3600)),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});
export type LedgerConfig = z.infer<typeof LedgerConfigSchema>;

export class LedgerConfigError extends Error {
  override readonly name = 'LedgerConfigError';
}

/** Reads the settings from an environment; empty variables count as unset. */
export function loadLedgerConfig(env: NodeJS.ProcessEnv): LedgerConfig {
  const raw = Object.fromEntries(
    Object.keys(LedgerConfigSchema.shape)
      .map((k) => [k, env[k]] as const)
      .filter(([, v]) => v !== undefined && v !== ''),
  );
  const parsed = LedgerConfigSchema.safeParse(raw);
  if (!parsed.success) {
    // Name the variable, never echo its value (it may be a secret).
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new LedgerConfigError(`Invalid configuration: ${problems.join('; ')}`);
  }
  return { ...parsed.data, LEDGER_DATA_DIR: resolve(parsed.data.LEDGER_DATA_DIR) };
}
