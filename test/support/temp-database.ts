import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type DatabaseHandle } from '../../src-engine/db/connection.ts';

/** A real, migrated SQLite file in a fresh temp dir (tests only). */
export function tempDatabase(): DatabaseHandle & { dir: string; file: string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'agencia-db-'));
  const file = join(dir, 'engine.db');
  const handle = openDatabase(file);
  return {
    ...handle,
    dir,
    file,
    dispose() {
      try {
        handle.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** A settable clock. */
export function manualClock(start = Date.UTC(2026, 10, 15, 12)) {
  let t = start;
  return {
    now: () => t,
    set: (ms: number) => void (t = ms),
    advance: (ms: number) => void (t += ms),
  };
}
