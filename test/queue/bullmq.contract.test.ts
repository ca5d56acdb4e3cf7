import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';
import { AppError } from '../../src-engine/errors.ts';
import { createBullmqQueue, REDIS_ANSWER_MS } from '../../src-engine/queue/bullmq.ts';
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

describe('bullmq with its Redis away', () => {
  it('answers the reads and dead-letter changes callers wait on with UNAVAILABLE, not never', async () => {
    // Nothing listens on port 1 of loopback: ioredis keeps reconnecting and holds every command.
    const queue = createBullmqQueue({ url: 'redis://127.0.0.1:1', prefix: `away-${randomUUID()}` });
    const started = Date.now();
    try {
      const outcomes = await Promise.allSettled([
        queue.counts('whatsapp.send'),
        queue.getJob('whatsapp.send', 'some-job'),
        queue.deadLetters.list({ resolved: false, limit: 10 }),
        queue.deadLetters.get('1'),
        queue.deadLetters.retry('1'),
        queue.deadLetters.resolve('1'),
      ]);
      for (const o of outcomes) {
        expect(o.status).toBe('rejected');
        const err = (o as PromiseRejectedResult).reason as unknown;
        expect(err).toBeInstanceOf(AppError);
        expect((err as AppError).code).toBe('UNAVAILABLE');
      }
      expect(Date.now() - started).toBeLessThan(REDIS_ANSWER_MS + 2_000);
    } finally {
      await queue.close(0);
    }
  }, 20_000);
});
