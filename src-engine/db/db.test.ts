import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { MIGRATIONS_DIR, openDatabase, runMigrations } from './connection.ts';

it('creates the schema later issues build on, in WAL mode, and migrates idempotently', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agencia-db-'));
  try {
    const file = join(dir, 'engine.db');
    const h = openDatabase(file, { migrate: false });
    const { entries } = JSON.parse(readFileSync(join(MIGRATIONS_DIR, 'meta', '_journal.json'), 'utf8')) as {
      entries: unknown[];
    };
    expect(runMigrations(h)).toEqual({ applied: entries.length, total: entries.length });
    expect(runMigrations(h)).toEqual({ applied: 0, total: entries.length });
    const tables = h.sqlite
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`)
      .all()
      .map((r) => (r as { name: string }).name);
    for (const t of [
      'organizations',
      'plans',
      'api_keys',
      'whatsapp_instances',
      'jobs',
      'dead_letters',
      'sent_messages',
      'ledger_entries',
      'reservations',
      'alerts',
      'agent_runs',
      'agent_run_logs',
    ]) {
      expect(tables).toContain(t);
    }
    expect(h.sqlite.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(h.sqlite.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(h.sqlite.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
    // Rarer checkpoints (see connection.ts), and a WAL file cut back to 64 MiB after one.
    expect(h.sqlite.pragma('wal_autocheckpoint', { simple: true })).toBe(10_000);
    expect(h.sqlite.pragma('journal_size_limit', { simple: true })).toBe(64 * 1024 * 1024);
    h.close();
    // Re-opening applies nothing new and keeps data.
    const again = openDatabase(file);
    expect(again.sqlite.prepare('SELECT count(*) AS n FROM __drizzle_migrations').get()).toEqual({
      n: entries.length,
    });
    again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
