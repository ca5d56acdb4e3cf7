import { createHash } from 'node:crypto';
import type { Sqlite } from '../db/connection.ts';
import { AppError } from '../errors.ts';

/** JSON with object keys sorted, so equal bodies hash equal whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The fingerprint a key is bound to: the operation and its validated input (defaults applied). */
export const bodyHash = (operation: string, input: unknown) =>
  createHash('sha256').update(operation).update('\n').update(canonicalJson(input)).digest('base64');

export interface IdempotencyStore {
  /** The stored result of `key`, or undefined; CONFLICT when the key was used with another body. */
  lookup(orgId: string, key: string, hash: string): unknown;
  /** Binds the key to its result; call inside the transaction that did the work. */
  record(orgId: string, key: string, operation: string, hash: string, result: unknown): void;
}

export function createIdempotencyStore(deps: { sqlite: Sqlite; now?: () => number }): IdempotencyStore {
  const now = deps.now ?? Date.now;
  const st = {
    get: deps.sqlite.prepare<[string, string], { body_hash: string; operation: string; result: string }>(
      `SELECT body_hash, operation, result FROM idempotency_keys WHERE org_id = ? AND key = ?`,
    ),
    put: deps.sqlite.prepare<[string, string, string, string, string, number]>(
      `INSERT INTO idempotency_keys (org_id, key, operation, body_hash, result, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
    ),
  };
  return {
    lookup(orgId, key, hash) {
      const row = st.get.get(orgId, key);
      if (!row) return undefined;
      if (row.body_hash !== hash) {
        throw new AppError('CONFLICT', 'This idempotency key was already used with a different request', {
          idempotencyKey: key,
          operation: row.operation,
        });
      }
      return JSON.parse(row.result) as unknown;
    },
    record(orgId, key, operation, hash, result) {
      st.put.run(orgId, key, operation, hash, JSON.stringify(result), now());
    },
  };
}
