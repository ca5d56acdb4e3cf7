// A worker process for the contract's crash tests: processes `test.crash` slowly so that a
// SIGKILL lands while jobs are active, and appends each completed job id to CRASH_LOG; a
// `test.poison` job kills the process that runs it.
import { appendFileSync } from 'node:fs';
import type { JobQueue } from '../../src-engine/queue/port.ts';

const env = process.env;

async function open(): Promise<JobQueue> {
  if (env.QUEUE_BACKEND === 'bullmq') {
    const { createBullmqQueue } = await import('../../src-engine/queue/bullmq.ts');
    return createBullmqQueue({
      url: env.REDIS_URL!,
      prefix: env.REDIS_PREFIX!,
      stalled: { lockDurationMs: 1000, stalledIntervalMs: 500 },
    });
  }
  const { openDatabase } = await import('../../src-engine/db/connection.ts');
  const { createSqliteQueue } = await import('../../src-engine/queue/sqlite.ts');
  return createSqliteQueue({ sqlite: openDatabase(env.SQLITE_FILE!).sqlite, exclusive: true });
}

const queue = await open();
queue.events.on((e) => {
  if (e.type === 'job.completed') appendFileSync(env.CRASH_LOG!, `${e.jobId}\n`);
});
queue.process('test.crash', () => new Promise((r) => setTimeout(r, 100)), {
  concurrency: Number(env.CRASH_CONCURRENCY ?? 1),
});
queue.process('test.poison', async () => void process.kill(process.pid, 'SIGKILL'));
