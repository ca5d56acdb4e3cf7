import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type DatabaseHandle } from '../../src-engine/db/connection.ts';
import { createSqliteQueue } from '../../src-engine/queue/sqlite.ts';
import { defineQueueContract } from './contract.ts';

defineQueueContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agencia-queue-'));
  const file = join(dir, 'engine.db');
  const handles: DatabaseHandle[] = [];
  const open = () => {
    const h = openDatabase(file);
    handles.push(h);
    return createSqliteQueue({ sqlite: h.sqlite, pollMs: 200 });
  };
  return {
    queue: open(),
    reopen: async () => open(),
    removeJob: async (queue, id) => {
      handles[0]!.sqlite
        .prepare(`DELETE FROM jobs WHERE queue = ? AND coalesce(job_key, seq) = ?`)
        .run(queue, id);
    },
    childEnv: { QUEUE_BACKEND: 'sqlite', SQLITE_FILE: file, CRASH_DIR: dir },
    cleanup: async () => {
      for (const h of handles) h.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
