import type { DatabaseHandle } from '../src-engine/db/connection.ts';
import { createOrganization } from '../src-engine/ledger/orgs.ts';

/**
 * The organization the desktop user acts as: the first one in the database (made with
 * `agencia-desk-engine seed`, or here), or a new one on the Free plan at the very first start.
 */
export function desktopOrgId(db: DatabaseHandle, name: string): string {
  const row = db.sqlite
    .prepare<[], { id: string }>('SELECT id FROM organizations ORDER BY created_at, id LIMIT 1')
    .get();
  return row?.id ?? createOrganization(db, { name, planId: 'free' });
}
