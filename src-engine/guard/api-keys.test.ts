import { afterEach, beforeEach, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { tempDatabase } from '../../test/support/temp-database.ts';
import { createOrganization } from '../ledger/orgs.ts';
import { createApiKeys } from './api-keys.ts';

let db: ReturnType<typeof tempDatabase>;
beforeEach(() => {
  db = tempDatabase();
  for (const id of ['org-a', 'org-b']) createOrganization(db, { id, name: id, planId: 'free' });
});
afterEach(() => db.dispose());

it('creates keys that verify to their org, stores only a hash, and revokes them', () => {
  const keys = createApiKeys({ sqlite: db.sqlite });
  const a = keys.create('org-a', 'n8n');
  const b = keys.create('org-b');
  expect(a.key).toMatch(/^ad_[A-Za-z0-9]{8}_[A-Za-z0-9]{40}$/);
  expect(keys.verify(a.key)).toEqual({ orgId: 'org-a', keyId: a.info.id });
  expect(keys.verify(b.key).orgId).toBe('org-b');
  const stored = JSON.stringify(db.sqlite.prepare('SELECT * FROM api_keys').all());
  expect(stored).not.toContain(a.key);
  expect(stored).not.toContain(a.key.slice(12));
  expect(keys.list('org-a')[0]).toMatchObject({ name: 'n8n', prefix: a.info.prefix });
  expect(keys.list('org-a')[0]!.lastUsedAt).not.toBeNull();

  keys.revoke(a.info.id);
  expect(() => keys.verify(a.key)).toThrow(expect.objectContaining({ code: 'UNAUTHORIZED' }));
  expect(keys.verify(b.key).orgId).toBe('org-b');
  expect(() => keys.revoke('nope')).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
  expect(() => keys.create('org-z')).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
});

it('refuses missing, malformed and altered keys with UNAUTHORIZED', () => {
  const keys = createApiKeys({ sqlite: db.sqlite });
  const { key } = keys.create('org-a');
  const last = key.at(-1) === 'A' ? 'B' : 'A';
  for (const bad of [
    undefined,
    '',
    'Bearer x',
    key.slice(0, -1),
    key.slice(0, -1) + last,
    `${key}x`,
    key.toUpperCase(),
  ]) {
    expect(() => keys.verify(bad)).toThrow(expect.objectContaining({ code: 'UNAUTHORIZED' }));
  }
});

it('a key still verifies at once while another program holds the write lock; its last use is written later', () => {
  const keys = createApiKeys({ sqlite: db.sqlite });
  const { key, info } = keys.create('org-a');
  const other = new Database(db.file);
  other.prepare('BEGIN IMMEDIATE').run();
  try {
    const started = performance.now();
    expect(keys.verify(key)).toEqual({ orgId: 'org-a', keyId: info.id });
    // No wait for the lock (the connection's busy timeout is seconds), and that timeout is kept.
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(db.sqlite.pragma('busy_timeout', { simple: true })).toBeGreaterThan(0);
    expect(keys.list('org-a')[0]!.lastUsedAt).toBeNull();
  } finally {
    other.prepare('COMMIT').run();
    other.close();
  }
  keys.verify(key);
  expect(keys.list('org-a')[0]!.lastUsedAt).not.toBeNull();
});
