import type { Sqlite } from '../db/connection.ts';
import { AppError } from '../errors.ts';
import { uuidv7 } from '../ids.ts';

export interface NewOrganization {
  id?: string;
  name: string;
  planId: string;
  /** The billing anchor (ms); default now. Cycles are its monthly anniversaries (see cycle.ts). */
  cycleStart?: number;
  timezone?: string;
}

/** Creates an organization on an existing plan; returns its id. */
export function createOrganization(
  deps: { sqlite: Sqlite; now?: () => number; newId?: () => string },
  org: NewOrganization,
): string {
  const { sqlite } = deps;
  const at = (deps.now ?? Date.now)();
  const id = org.id ?? (deps.newId ?? uuidv7)();
  if (!sqlite.prepare(`SELECT 1 FROM plans WHERE id = ?`).get(org.planId)) {
    throw new AppError('VALIDATION_ERROR', `Unknown plan "${org.planId}"`, { planId: org.planId });
  }
  try {
    sqlite
      .prepare(
        `INSERT INTO organizations (id, name, plan_id, timezone, cycle_start, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(id, org.name, org.planId, org.timezone ?? 'UTC', org.cycleStart ?? at, at);
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
      throw new AppError('CONFLICT', `Organization ${id} already exists`, { orgId: id });
    }
    throw err;
  }
  return id;
}
