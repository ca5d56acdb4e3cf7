import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Sqlite } from '../db/connection.ts';
import { AppError } from '../errors.ts';

/** Keys look like `ad_<prefix>_<secret>`: the prefix finds the row, the whole key is hashed. */
const KEY_PATTERN = /^ad_([A-Za-z0-9]{8})_([A-Za-z0-9_-]{32,64})$/;

export interface ApiKeyInfo {
  id: string;
  orgId: string;
  name: string;
  prefix: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

export interface ApiKeys {
  /** Makes a key for the org; the plain key is returned once and never stored. */
  create(orgId: string, name?: string): { key: string; info: ApiKeyInfo };
  /** The org of a valid, unrevoked key, or UNAUTHORIZED. */
  verify(presented: string | undefined): { orgId: string; keyId: string };
  revoke(keyId: string): ApiKeyInfo;
  list(orgId: string): ApiKeyInfo[];
}

interface Row {
  id: string;
  org_id: string;
  name: string;
  prefix: string;
  hash: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();
const alnum = (n: number) =>
  randomBytes(n * 2)
    .toString('base64')
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, n);

const toInfo = (r: Row): ApiKeyInfo => ({
  id: r.id,
  orgId: r.org_id,
  name: r.name,
  prefix: r.prefix,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
});

export function createApiKeys(opts: { sqlite: Sqlite; now?: () => number }): ApiKeys {
  const { sqlite } = opts;
  const now = opts.now ?? Date.now;
  const st = {
    insert: sqlite.prepare<[string, string, string, string, string, number]>(
      `INSERT INTO api_keys (id, org_id, name, prefix, hash, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    byPrefix: sqlite.prepare<[string], Row>(`SELECT * FROM api_keys WHERE prefix = ?`),
    byId: sqlite.prepare<[string], Row>(`SELECT * FROM api_keys WHERE id = ?`),
    byOrg: sqlite.prepare<[string], Row>(`SELECT * FROM api_keys WHERE org_id = ? ORDER BY created_at`),
    used: sqlite.prepare<[number, string]>(`UPDATE api_keys SET last_used_at = ? WHERE id = ?`),
    revoke: sqlite.prepare<[number, string]>(
      `UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`,
    ),
    org: sqlite.prepare<[string], { id: string }>(`SELECT id FROM organizations WHERE id = ?`),
  };
  const unauthorized = () => new AppError('UNAUTHORIZED', 'Missing or invalid API key');

  /**
   * Writes the hint only if the database is free this instant: a read must not wait for (or fail with,
   * 500) the write lock another program holds, say a CLI top-up; the next use writes it then.
   */
  function noteUse(at: number, keyId: string) {
    const wait = sqlite.pragma('busy_timeout', { simple: true }) as number;
    sqlite.pragma('busy_timeout = 0');
    try {
      st.used.run(at, keyId);
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
    } finally {
      sqlite.pragma(`busy_timeout = ${wait}`);
    }
  }

  return {
    create(orgId, name = 'default') {
      if (!st.org.get(orgId)) throw new AppError('NOT_FOUND', `No organization ${JSON.stringify(orgId)}`);
      const prefix = alnum(8);
      const key = `ad_${prefix}_${alnum(40)}`;
      const id = randomUUID();
      st.insert.run(id, orgId, name, prefix, sha256(key).toString('hex'), now());
      return { key, info: toInfo(st.byId.get(id)!) };
    },
    verify(presented) {
      const m = typeof presented === 'string' ? KEY_PATTERN.exec(presented) : null;
      if (!m) throw unauthorized();
      const hash = sha256(presented!);
      // Compare against every row with this prefix in constant time, whatever matches.
      let found: Row | undefined;
      for (const row of st.byPrefix.all(m[1]!)) {
        if (timingSafeEqual(hash, Buffer.from(row.hash, 'hex')) && row.revoked_at === null) found = row;
      }
      if (!found) throw unauthorized();
      // Last use is a hint for the key list: written at most once a minute, not on every request.
      const at = now();
      if (found.last_used_at === null || at - found.last_used_at >= 60_000) noteUse(at, found.id);
      return { orgId: found.org_id, keyId: found.id };
    },
    revoke(keyId) {
      if (st.revoke.run(now(), keyId).changes === 0) {
        throw new AppError('NOT_FOUND', `No API key ${JSON.stringify(keyId)}`);
      }
      return toInfo(st.byId.get(keyId)!);
    },
    list(orgId) {
      return st.byOrg.all(orgId).map(toInfo);
    },
  };
}
