import { randomUUID } from 'node:crypto';
import { AddInstanceSchema, type Instance } from '../../contracts/whatsapp.ts';
import type { Sqlite } from '../../db/connection.ts';
import { AppError } from '../../errors.ts';
import type { Quotas } from '../../ledger/quota.ts';
import type { Command } from '../pipeline.ts';
import { toInstance, type InstanceRow } from '../rows.ts';

const DAY_MS = 86_400_000;

/** Adds a WhatsApp number to the org, within its plan's `maxInstances`; it starts warming up. */
export function addInstanceCommand(deps: {
  sqlite: Sqlite;
  quotas: Quotas;
  now?: () => number;
  newId?: () => string;
}): Command<typeof AddInstanceSchema, Instance> {
  const now = deps.now ?? Date.now;
  const newId = deps.newId ?? randomUUID;
  const st = {
    count: deps.sqlite.prepare<[string], { n: number }>(
      `SELECT count(*) AS n FROM whatsapp_instances WHERE org_id = ?`,
    ),
    byName: deps.sqlite.prepare<[string, string], { id: string }>(
      `SELECT id FROM whatsapp_instances WHERE org_id = ? AND name = ?`,
    ),
    insert: deps.sqlite.prepare<[string, string, string, string, number, number, number], InstanceRow>(
      `INSERT INTO whatsapp_instances (id, org_id, name, evolution_instance, health, health_changed_at,
                                       warmup_started_at, created_at)
       VALUES (?, ?, ?, ?, 'WARMUP', ?, ?, ?) RETURNING *`,
    ),
  };
  return {
    name: 'whatsapp:addInstance',
    schema: AddInstanceSchema,
    check({ orgId }, input) {
      const { maxInstances, name } = deps.quotas.orgPlan(orgId);
      const used = st.count.get(orgId)!.n;
      if (used >= maxInstances) {
        throw new AppError('PLAN_LIMIT', `The ${name} plan allows ${maxInstances} WhatsApp instance(s)`, {
          limit: maxInstances,
          used,
        });
      }
      if (st.byName.get(orgId, input.name)) {
        throw new AppError('CONFLICT', `An instance named ${JSON.stringify(input.name)} already exists`);
      }
    },
    execute({ orgId }, input) {
      const at = now();
      const warmupStart = at - (input.warmupDay - 1) * DAY_MS;
      const row = st.insert.get(newId(), orgId, input.name, input.evolutionInstance, at, warmupStart, at)!;
      return { output: toInstance(row) };
    },
  };
}
