import { SetBrandingSchema, type Branding } from '../../contracts/branding.ts';
import type { Sqlite } from '../../db/connection.ts';
import { AppError } from '../../errors.ts';
import type { Quotas } from '../../ledger/quota.ts';
import type { Command } from '../pipeline.ts';

/** White-label branding: only plans with `whiteLabel` (Partner) may set it. */
export function setBrandingCommand(deps: {
  sqlite: Sqlite;
  quotas: Quotas;
  now?: () => number;
}): Command<typeof SetBrandingSchema, Branding> {
  const now = deps.now ?? Date.now;
  const upsert = deps.sqlite.prepare<[string, string, string, string | null, number]>(
    `INSERT INTO branding (org_id, name, accent_color, logo, updated_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT(org_id) DO UPDATE SET name = excluded.name, accent_color = excluded.accent_color,
                                       logo = excluded.logo, updated_at = excluded.updated_at`,
  );
  return {
    name: 'branding:set',
    schema: SetBrandingSchema,
    check({ orgId }) {
      const plan = deps.quotas.orgPlan(orgId);
      if (!plan.whiteLabel) {
        throw new AppError('PLAN_LIMIT', `White label is not part of the ${plan.name} plan`, {
          feature: 'whiteLabel',
          plan: plan.id,
        });
      }
    },
    execute({ orgId }, input) {
      const { name, accentColor, logo } = input;
      upsert.run(orgId, name, accentColor, logo, now());
      return { output: { name, accentColor, logo } };
    },
  };
}
