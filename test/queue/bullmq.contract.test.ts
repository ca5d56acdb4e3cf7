import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { createBullmqQueue } from '../../src-engine/queue/bullmq.ts';
import { defineQueueContract } from './contract.ts';

defineQueueContract('bullmq', async () => {
  const url = inject('redisUrl');
  // A prefix per test keeps tests apart on the shared Redis.
  const prefix = `contract-${randomUUID()}`;
  const dir = mkdtempSync(join(tmpdir(), 'agencia-queue-'));
  const open = () => createBullmqQueue({ url, prefix });
  return {
    queue: open(),
    reopen: async () => open(),
    removeJob: async (queue, id) => {
      const redis = new Redis(url);
      const q = new Queue(queue, { connection: redis, prefix });
      try {
        await q.remove(id);
      } finally {
        await q.close();
        await redis.quit();
      }
    },
    childEnv: { QUEUE_BACKEND: 'bullmq', REDIS_URL: url, REDIS_PREFIX: prefix, CRASH_DIR: dir },
    cleanup: async () => {
      rmSync(dir, { recursive: true, force: true });
      const redis = new Redis(url);
      try {
        for await (const batch of redis.scanStream({ match: `${prefix}:*`, count: 500 }) as AsyncIterable<
          string[]
        >) {
          if (batch.length) await redis.unlink(...batch);
        }
      } finally {
        await redis.quit();
      }
    },
  };
});
