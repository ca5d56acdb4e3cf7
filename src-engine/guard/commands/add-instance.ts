import type { SmartSendSettings } from '../../contracts/smartsend.ts';
import { AddInstanceSchema, type Instance } from '../../contracts/whatsapp.ts';
import type { Sqlite } from '../../db/connection.ts';
import { AppError } from '../../errors.ts';
import type { Quotas } from '../../ledger/quota.ts';
import { createSqliteState } from '../../smartsend/sqlite-state.ts';
import { initialInstanceState } from '../../smartsend/state.ts';
import { timeZone } from '../../smartsend/time-zone.ts';
import type { Command } from '../pipeline.ts';
import { toInstance, type InstanceRow } from '../rows.ts';
import { uuidv7 } from '../../ids.ts';

/**
 * Adds a WhatsApp number to the org, within its plan's `maxInstances`. It starts as SmartSend's model
 * says: warming up on `warmupDay` of the org's local calendar, or ACTIVE at once when that day is
 * past the warm-up schedule (not WARMUP until the next health tick promotes it).
 */
export function addInstanceCommand(deps: {
  sqlite: Sqlite;
  quotas: Quotas;
  smartsend: SmartSendSettings;
  now?: () => number;
  newId?: () => string;
}): Command<typeof AddInstanceSchema, Instance> {
  const now = deps.now ?? Date.now;
  const newId = deps.newId ?? uuidv7;
  // Warm-up days are the org's local days.
  const states = createSqliteState({ sqlite: deps.sqlite });
  const st = {
    count: deps.sqlite.prepare<[string], { n: number }>(
      `SELECT count(*) AS n FROM whatsapp_instances WHERE org_id = ?`,
    ),
    byName: deps.sqlite.prepare<[string, string], { id: string }>(
      `SELECT id FROM whatsapp_instances WHERE org_id = ? AND name = ?`,
    ),
    byEvolution: deps.sqlite.prepare<[string], { id: string }>(
      `SELECT id FROM whatsapp_instances WHERE evolution_instance = ? LIMIT 1`,
    ),
    insert: deps.sqlite.prepare<
      [string, string, string, string, string, string | null, number | null, number, number | null, number],
      InstanceRow
    >(
      `INSERT INTO whatsapp_instances (id, org_id, name, evolution_instance, health, health_reason,
                                       health_changed_at, warmup_started_at, warmup_completed_at, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
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
      // One Evolution instance is one WhatsApp number: registered twice, its webhooks and its sends
      // would belong to two orgs. Which org has it is not said.
      if (st.byEvolution.get(input.evolutionInstance)) {
        throw new AppError(
          'CONFLICT',
          `The Evolution instance ${JSON.stringify(input.evolutionInstance)} is already registered`,
          { evolutionInstance: input.evolutionInstance },
        );
      }
    },
    execute({ orgId }, input) {
      const at = now();
      const s = initialInstanceState(
        { instanceId: newId(), orgId, warmupDay: input.warmupDay },
        at,
        timeZone(states.timeZone(orgId)),
        deps.smartsend,
      );
      const row = st.insert.get(
        s.instanceId,
        orgId,
        input.name,
        input.evolutionInstance,
        s.health,
        s.healthReason,
        s.healthChangedAt,
        s.warmupStartedAt,
        s.warmupCompletedAt,
        at,
      )!;
      return { output: toInstance(row) };
    },
  };
}
