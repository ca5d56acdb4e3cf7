import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { startRedis } from '../../test/support/redis.ts';
import type { JobEvent } from '../contracts/events.ts';
import { createBullmqQueue, idempotencyKey } from './bullmq.ts';
import { RetryLaterError } from './errors.ts';
import { waitForEvent } from '../../test/queue/contract.ts';
import type { JobQueue } from './port.ts';

const url = inject('redisUrl');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('bullmq queue backend', () => {
  let prefix: string;
  let redis: Redis;
  const opened: JobQueue[] = [];
  const raws: Queue[] = [];

  /** A JobQueue on this test's prefix; a second call is "another engine" (or the same after a restart). */
  const open = (stalled?: { lockDurationMs?: number; stalledIntervalMs?: number }) => {
    const q = createBullmqQueue({ url, prefix, ...(stalled ? { stalled } : {}) });
    opened.push(q);
    return q;
  };
  /** Plain BullMQ on the same keys, to look at and tamper with what the backend stored. */
  const raw = (name: string) => {
    const q = new Queue(name, { connection: redis, prefix });
    raws.push(q);
    return q;
  };

  beforeEach(() => {
    prefix = `unit-${randomUUID()}`;
    redis = new Redis(url, { maxRetriesPerRequest: null });
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((q) => q.close(100)));
    await Promise.all(raws.splice(0).map((q) => q.close()));
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.unlink(...keys);
    await redis.quit();
  });

  it('keeps an idempotency key after the queue itself is obliterated', async () => {
    const q = open();
    const first = await q.add('test.idem', { v: 1 }, { jobId: 'invoice-7' });
    expect(first).toEqual({ id: 'invoice-7', queue: 'test.idem', deduplicated: false });
    await raw('test.idem').obliterate({ force: true });
    expect(await q.getJob('test.idem', 'invoice-7')).toBeNull();

    const again = await open().add('test.idem', { v: 2 }, { jobId: 'invoice-7' });
    expect(again).toEqual({ id: 'invoice-7', queue: 'test.idem', deduplicated: true });
    expect(await q.getJob('test.idem', 'invoice-7')).toBeNull();
    expect(await q.counts('test.idem')).toMatchObject({ waiting: 0, delayed: 0 });
  });

  it('makes exactly one job when many engines add the same key at once', async () => {
    const engines = [open(), open(), open()];
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => engines[i % 3]!.add('test.race', { i }, { jobId: 'same-key' })),
    );
    expect(results.filter((r) => !r.deduplicated)).toHaveLength(1);
    expect(new Set(results.map((r) => r.id))).toEqual(new Set(['same-key']));
    expect((await engines[0]!.counts('test.race')).waiting).toBe(1);
  });

  it('recovers a key whose producer died between claiming it and adding the job', async () => {
    const q = open();
    const queued: JobEvent[] = [];
    q.events.on((e) => e.type === 'job.queued' && queued.push(e));
    // The dead producer's claim, as it was left: pending, expiring shortly.
    await redis.set(idempotencyKey(prefix, 'test.crash', 'order-1'), 'pending', 'PX', 200);

    const r = await q.add('test.crash', { n: 1 }, { jobId: 'order-1' });
    expect(r).toEqual({ id: 'order-1', queue: 'test.crash', deduplicated: false });
    expect(await q.getJob('test.crash', 'order-1')).toMatchObject({ state: 'waiting', data: { n: 1 } });
    expect(queued).toHaveLength(1);
    expect(await q.add('test.crash', { n: 2 }, { jobId: 'order-1' })).toMatchObject({ deduplicated: true });
  });

  it('recovers a key whose producer died after adding the job but before marking the key', async () => {
    const q = open();
    await raw('test.crash').add('test.crash', { payload: { n: 1 } }, { jobId: 'order-2', priority: 5 });
    await redis.set(idempotencyKey(prefix, 'test.crash', 'order-2'), 'pending', 'PX', 200);

    const r = await q.add('test.crash', { n: 2 }, { jobId: 'order-2' });
    expect(r).toEqual({ id: 'order-2', queue: 'test.crash', deduplicated: true });
    expect((await q.counts('test.crash')).waiting).toBe(1);
    expect((await q.getJob('test.crash', 'order-2'))?.data).toEqual({ n: 1 });
    // The key is now permanent: removing the job does not free it.
    await raw('test.crash').remove('order-2');
    expect(await q.add('test.crash', { n: 3 }, { jobId: 'order-2' })).toMatchObject({ deduplicated: true });
  });

  it('refuses job ids that would address one of BullMQ’s own keys', async () => {
    const q = open();
    await expect(q.add('test.ids', {}, { jobId: 'meta' })).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
    });
    await q.add('test.ids', {}); // the queue's "meta" hash now exists
    expect(await q.getJob('test.ids', 'meta')).toBeNull();
  });

  it('"retry later" moves the job to delayed without spending a BullMQ attempt', async () => {
    const q = open();
    const { id } = await q.add('test.later', null, { attempts: 2 });
    let calls = 0;
    q.process('test.later', async () => {
      calls++;
      if (calls === 1) throw new RetryLaterError(300, 'pacing');
      return 'sent';
    });
    const later = await waitForEvent(q, (e) => e.type === 'job.retrying' && e.jobId === id);
    expect(later).toMatchObject({ attempt: 1, attemptSpent: false, reason: 'pacing' });
    const job = await raw('test.later').getJob(id);
    expect(await job?.getState()).toBe('delayed');
    expect(job?.attemptsMade).toBe(0);
    expect(job?.attemptsStarted).toBe(1);
    if (later.type !== 'job.retrying') throw new Error('unreachable');
    // The event's clock reading comes a moment before BullMQ's.
    expect(Math.abs((await q.getJob('test.later', id))!.runAt! - later.runAt)).toBeLessThanOrEqual(5);

    await waitForEvent(q, (e) => e.type === 'job.completed' && e.jobId === id);
    expect(calls).toBe(2);
    expect((await raw('test.later').getJob(id))?.attemptsMade).toBe(1); // BullMQ counts the completion
  });

  it('schedules the retry when it announces, jitter included', async () => {
    const q = open();
    const { id } = await q.add('test.jitter', null, {
      attempts: 2,
      backoff: { type: 'exponential', delay: 10_000, jitter: 1 },
    });
    q.process('test.jitter', async () => {
      throw new Error('flaky');
    });
    const e = await waitForEvent(q, (ev) => ev.type === 'job.retrying' && ev.jobId === id);
    if (e.type !== 'job.retrying') throw new Error('unreachable');
    const info = await q.getJob('test.jitter', id);
    expect(info?.state).toBe('delayed');
    // Jitter 1 spreads the delay over 0..10 s; only latency separates what we said from what BullMQ did.
    expect(Math.abs(info!.runAt! - e.runAt)).toBeLessThan(100);
  });

  it('files one dead letter even when the job is lost and failed again after it was written', async () => {
    const q = open({ lockDurationMs: 1000, stalledIntervalMs: 200 });
    const { id } = await q.add('test.dl-once', { to: 'x' }, { attempts: 1 });
    const deaths: JobEvent[] = [];
    const stalls: JobEvent[] = [];
    q.events.on((e) => e.type === 'job.dead' && deaths.push(e));
    q.events.on((e) => e.type === 'job.retrying' && stalls.push(e));
    let calls = 0;
    q.process('test.dl-once', async () => {
      calls++;
      // First run: lose the lock (as if this worker died) after the handler ran; the dead letter is
      // written, but BullMQ cannot move the job, so stall detection runs the same attempt again.
      if (calls === 1) await redis.del(`${prefix}:test.dl-once:${id}:lock`);
      throw new Error('bad number');
    });
    await waitForEvent(q, (e) => e.type === 'job.dead' && e.jobId === id, 8000);
    expect(calls).toBe(2);
    const page = await q.deadLetters.list({ queue: 'test.dl-once' });
    expect(page.items).toHaveLength(1);
    expect(page.items[0]).toMatchObject({
      jobId: id,
      attempts: 1,
      error: 'bad number',
      payload: { to: 'x' },
    });
    expect(deaths).toEqual([expect.objectContaining({ deadLetterId: page.items[0]!.id })]);
    expect(stalls).toEqual([expect.objectContaining({ jobId: id, attempt: 1, attemptSpent: false })]);
    expect(await open().deadLetters.get(page.items[0]!.id)).toEqual(page.items[0]);
  });

  it('keeps one schedule per key across engines and restarts', async () => {
    const a = open();
    const b = open();
    const input = {
      key: 'monthly-billing',
      cron: '0 0 1 * *',
      tz: 'America/Mexico_City',
      data: { cycle: true },
    };
    const s1 = await a.schedule('billing.sync', input);
    const s2 = await b.schedule('billing.sync', input);
    expect(s2).toEqual(s1);
    expect(s1).toMatchObject({ queue: 'billing.sync', key: 'monthly-billing', data: { cycle: true } });
    expect(new Date(s1.nextRunAt).getUTCDate()).toBe(1);
    await b.close();
    const c = open(); // b restarted
    await c.schedule('billing.sync', input);
    await c.schedule('compliance.check', { key: 'hourly', cron: '0 * * * *' });

    expect(await a.schedules()).toEqual([
      expect.objectContaining({ queue: 'billing.sync', key: 'monthly-billing' }),
      expect.objectContaining({ queue: 'compliance.check', key: 'hourly', tz: 'UTC', data: null }),
    ]);
    expect((await a.counts('billing.sync')).delayed).toBe(1);
    expect(await c.unschedule('billing.sync', 'monthly-billing')).toBe(true);
    expect(await a.schedules('billing.sync')).toEqual([]);
    expect((await a.counts('billing.sync')).delayed).toBe(0);
  });

  it('closing past the grace period hands back a job whose handler ignores its signal', async () => {
    const q = open();
    const { id } = await q.add('test.stuck', null);
    const w = q.process('test.stuck', () => new Promise(() => {}));
    await waitForEvent(q, (e) => e.type === 'job.active' && e.jobId === id);
    const t0 = Date.now();
    await w.close(150);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(await q.getJob('test.stuck', id)).toMatchObject({ state: 'waiting', attemptsMade: 0 });
    await sleep(50);
    expect((await raw('test.stuck').getJob(id))?.attemptsMade).toBe(0);
  });

  it('answers bad input on every method with VALIDATION_ERROR', async () => {
    const q = open();
    const invalid = { code: 'VALIDATION_ERROR' };
    await expect(q.getJob('test.input', 42 as unknown as string)).rejects.toMatchObject(invalid);
    await expect(q.getJob('Bad Queue', '1')).rejects.toMatchObject(invalid);
    await expect(q.counts('a:b')).rejects.toMatchObject(invalid);
    await expect(q.pause('')).rejects.toMatchObject(invalid);
    await expect(q.schedule('test.input', { key: 'has space', cron: '* * * * *' })).rejects.toMatchObject(
      invalid,
    );
    await expect(q.schedule('test.input', { key: 'k', cron: '* * * * *', data: 1n })).rejects.toMatchObject(
      invalid,
    );
    await expect(q.unschedule('test.input', 'a:b')).rejects.toMatchObject(invalid);
    await expect(q.deadLetters.list({ cursor: 'abc' })).rejects.toMatchObject(invalid);
    expect(() => q.process('test.input', 'nope' as never)).toThrow(expect.objectContaining(invalid));
    expect(await q.deadLetters.get('abc')).toBeNull();
    await expect(q.deadLetters.resolve('12')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('does not hang its shutdown on a Redis that went away', async () => {
    const own = await startRedis();
    try {
      const q = createBullmqQueue({ url: own.url, prefix });
      const { id } = await q.add('test.gone', null);
      q.process('test.gone', () => new Promise(() => {}));
      await waitForEvent(q, (e) => e.type === 'job.active' && e.jobId === id);
      await own.stop();
      await expect(q.ping()).rejects.toThrow(/PING/);
      const t0 = Date.now();
      await q.close(100);
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      await own.stop();
    }
  });

  it('answers ping and fails it once closed', async () => {
    const q = open();
    await expect(q.ping()).resolves.toBeUndefined();
    await q.close();
    await expect(q.ping()).rejects.toThrow();
  });
});
