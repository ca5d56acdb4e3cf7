import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobEventSchema, type JobEvent } from '../../src-engine/contracts/events.ts';
import { AppError } from '../../src-engine/errors.ts';
import { MAX_STALLS, RetryLaterError, STALLED, UnrecoverableError } from '../../src-engine/queue/errors.ts';
import type { JobQueue } from '../../src-engine/queue/port.ts';
import { rejectionOf } from '../support/rejection.ts';

/** What a backend gives the shared suite: a fresh, isolated queue and ways to reach the same storage again. */
export interface QueueHarness {
  queue: JobQueue;
  /** A second JobQueue on the same storage, as after a restart of the engine. */
  reopen(): Promise<JobQueue>;
  /** Deletes a job from storage behind the queue's back (as retention/cleanup would). */
  removeJob(queue: string, id: string): Promise<void>;
  /** Environment for test/queue/crash-worker.ts to open the same storage in a child process. */
  childEnv: Record<string, string>;
  cleanup(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves with the first event matching `pred`, or rejects after `ms`. */
export function waitForEvent(q: JobQueue, pred: (e: JobEvent) => boolean, ms = 5000): Promise<JobEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no matching event within ${ms} ms`));
    }, ms);
    const off = q.events.on((e) => {
      if (!pred(e)) return;
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}

async function until(check: () => Promise<boolean> | boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function recordEvents(q: JobQueue): JobEvent[] {
  const seen: JobEvent[] = [];
  q.events.on((e) => seen.push(e));
  return seen;
}

async function expectValidationError(p: Promise<unknown>): Promise<void> {
  expect((await rejectionOf(p, AppError)).code).toBe('VALIDATION_ERROR');
}

const fast = { backoff: { type: 'fixed' as const, delay: 20 } };

/** The JobQueue contract: every backend must pass exactly these cases. */
export function defineQueueContract(name: string, make: () => Promise<QueueHarness>): void {
  describe(`JobQueue contract: ${name}`, () => {
    let h: QueueHarness;
    let q: JobQueue;
    const extra: JobQueue[] = [];

    beforeEach(async () => {
      h = await make();
      q = h.queue;
    });
    afterEach(async () => {
      for (const x of extra.splice(0)) await x.close(100);
      await q.close(100);
      await h.cleanup();
    });

    it('adds a job and reports it waiting with its data', async () => {
      const r = await q.add('test.basic', { hello: 'mundo', n: 1 });
      expect(r).toMatchObject({ queue: 'test.basic', deduplicated: false });
      const job = await q.getJob('test.basic', r.id);
      expect(job).toMatchObject({
        id: r.id,
        state: 'waiting',
        data: { hello: 'mundo', n: 1 },
        attemptsMade: 0,
        attempts: 3,
      });
      expect(await q.counts('test.basic')).toMatchObject({
        waiting: 1,
        active: 0,
        completed: 0,
        paused: false,
      });
      expect(await q.getJob('test.basic', 'nope-404')).toBeNull();
    });

    it('a second add with the same key returns the first job, even after it completed and was removed', async () => {
      const events = recordEvents(q);
      const a = await q.add('test.idem', { v: 1 }, { jobId: 'order-42' });
      const b = await q.add('test.idem', { v: 2 }, { jobId: 'order-42' });
      expect(a).toEqual({ id: 'order-42', queue: 'test.idem', deduplicated: false });
      expect(b).toEqual({ id: 'order-42', queue: 'test.idem', deduplicated: true });
      expect(events.filter((e) => e.type === 'job.queued')).toHaveLength(1);
      const seen: unknown[] = [];
      q.process('test.idem', async (job) => seen.push(job.data));
      await waitForEvent(q, (e) => e.type === 'job.completed' && e.jobId === 'order-42');
      expect(await q.add('test.idem', { v: 3 }, { jobId: 'order-42' })).toMatchObject({ deduplicated: true });
      await h.removeJob('test.idem', 'order-42');
      expect(await q.getJob('test.idem', 'order-42')).toBeNull();
      expect(await q.add('test.idem', { v: 4 }, { jobId: 'order-42' })).toMatchObject({
        id: 'order-42',
        deduplicated: true,
      });
      await sleep(150);
      expect(seen).toEqual([{ v: 1 }]);
      // Keys are per queue.
      expect(await q.add('test.idem-other', {}, { jobId: 'order-42' })).toMatchObject({
        deduplicated: false,
      });
    });

    it('addBulk adds every job, or none when one item is invalid', async () => {
      const rs = await q.addBulk([
        { queue: 'test.bulk', data: 1 },
        { queue: 'test.bulk', data: 2, opts: { jobId: 'bulk-k' } },
        { queue: 'test.bulk', data: 3, opts: { jobId: 'bulk-k' } },
      ]);
      expect(rs.map((r) => r.deduplicated)).toEqual([false, false, true]);
      expect((await q.counts('test.bulk')).waiting).toBe(2);
      await expectValidationError(
        q.addBulk([
          { queue: 'test.bulk', data: 4 },
          { queue: 'test.bulk', data: 5, opts: { attempts: 0 } },
        ]),
      );
      expect((await q.counts('test.bulk')).waiting).toBe(2);
    });

    it('rejects bad queue names, payloads and options before writing anything', async () => {
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      await expectValidationError(q.add('Bad Name', {}));
      await expectValidationError(q.add('', {}));
      await expectValidationError(q.add('a:b', {}));
      await expectValidationError(q.add(42 as unknown as string, {}));
      await expectValidationError(q.add('test.bad', { n: 10n }));
      await expectValidationError(q.add('test.bad', cyclic));
      await expectValidationError(q.add('test.bad', () => 1));
      await expectValidationError(q.add('test.bad', 'x'.repeat(600 * 1024)));
      await expectValidationError(q.add('test.bad', {}, { attempts: 0 }));
      await expectValidationError(q.add('test.bad', {}, { delay: -1 }));
      await expectValidationError(q.add('test.bad', {}, { priority: 1.5 }));
      await expectValidationError(q.add('test.bad', {}, { jobId: '123' }));
      await expectValidationError(q.add('test.bad', {}, { jobId: 'has space' }));
      await expectValidationError(q.add('test.bad', {}, { jobId: 'meta' }));
      await expectValidationError(q.add('test.bad', {}, { unknown: true } as never));
      await expectValidationError(q.add('test.bad', {}, { backoff: { type: 'linear', delay: 1 } } as never));
      expect(await q.counts('test.bad')).toMatchObject({ waiting: 0, delayed: 0 });
      expect(() => q.process('Bad Name', async () => {})).toThrow(AppError);
      expect(() => q.process('test.bad', async () => {}, { concurrency: 0 })).toThrow(AppError);
    });

    it('processes a job: events queued -> active -> completed, result stored', async () => {
      const events = recordEvents(q);
      const { id } = await q.add('test.run', { x: 2 });
      q.process<{ x: number }>('test.run', async (job) => {
        expect(job.attempt).toBe(1);
        expect(job.attempts).toBe(3);
        return { doubled: job.data.x * 2 };
      });
      await waitForEvent(q, (e) => e.type === 'job.completed' && e.jobId === id);
      expect(events.filter((e) => e.jobId === id).map((e) => e.type)).toEqual([
        'job.queued',
        'job.active',
        'job.completed',
      ]);
      expect(await q.getJob('test.run', id)).toMatchObject({
        state: 'completed',
        result: { doubled: 4 },
        attemptsMade: 0,
      });
      expect(await q.counts('test.run')).toMatchObject({ waiting: 0, active: 0, completed: 1 });
    });

    it("names the org of a job's payload in every event of the job, and no org for a job without one", async () => {
      const events = recordEvents(q);
      const opts = { attempts: 2, backoff: { type: 'fixed' as const, delay: 20 } };
      const { id } = await q.add('test.org', { orgId: 'org-1', x: 1 }, opts);
      const { id: plain } = await q.add('test.org', { x: 2 }, opts);
      q.process('test.org', async (job) => {
        if (job.attempt === 1) throw new Error('once more');
        return 'ok';
      });
      for (const jobId of [id, plain]) {
        await waitForEvent(q, (e) => e.type === 'job.completed' && e.jobId === jobId);
      }
      const of = (jobId: string) => events.filter((e) => e.jobId === jobId);
      expect(of(id).map((e) => [e.type, e.orgId])).toEqual(
        ['job.queued', 'job.active', 'job.failed', 'job.retrying', 'job.active', 'job.completed'].map((t) => [
          t,
          'org-1',
        ]),
      );
      expect(of(plain).map((e) => e.orgId)).toEqual(Array(6).fill(undefined));
    });

    it('runs higher priority first and keeps FIFO within a priority', async () => {
      await q.pause('test.prio');
      const add = (data: string, priority?: number) => q.add('test.prio', data, priority ? { priority } : {});
      await add('low-1', 10);
      await add('normal-1');
      await add('high-1', 1);
      await add('normal-2');
      await add('high-2', 1);
      const order: string[] = [];
      q.process<string>('test.prio', async (job) => void order.push(job.data));
      await q.resume('test.prio');
      await until(() => order.length === 5, 5000, 'all five jobs');
      expect(order).toEqual(['high-1', 'high-2', 'normal-1', 'normal-2', 'low-1']);
    });

    it('holds a delayed job until its time', async () => {
      const t0 = Date.now();
      const { id } = await q.add('test.delay', 'later', { delay: 400 });
      expect(await q.counts('test.delay')).toMatchObject({ delayed: 1, waiting: 0 });
      expect((await q.getJob('test.delay', id))?.state).toBe('delayed');
      let ranAt = 0;
      q.process('test.delay', async () => void (ranAt = Date.now()));
      await waitForEvent(q, (e) => e.type === 'job.completed' && e.jobId === id);
      expect(ranAt - t0).toBeGreaterThanOrEqual(390);
      expect(ranAt - t0).toBeLessThan(2500);
    });

    it('retries failed attempts with backoff, then succeeds', async () => {
      const events = recordEvents(q);
      const { id } = await q.add('test.retry', null, { attempts: 3, backoff: { type: 'fixed', delay: 50 } });
      const attempts: number[] = [];
      q.process('test.retry', async (job) => {
        attempts.push(job.attempt);
        if (job.attempt < 3) throw new Error(`boom ${job.attempt}`);
        return 'ok';
      });
      await waitForEvent(q, (e) => e.type === 'job.completed' && e.jobId === id);
      expect(attempts).toEqual([1, 2, 3]);
      const mine = events.filter((e) => e.jobId === id);
      expect(mine.map((e) => e.type)).toEqual([
        'job.queued',
        'job.active',
        'job.failed',
        'job.retrying',
        'job.active',
        'job.failed',
        'job.retrying',
        'job.active',
        'job.completed',
      ]);
      // Every event matches the typed stream's schema (what the UI validates against).
      for (const e of mine) expect(JobEventSchema.safeParse(e).success).toBe(true);
      const retry = mine.find((e) => e.type === 'job.retrying');
      expect(retry).toMatchObject({ attemptSpent: true, reason: 'boom 1' });
      if (retry?.type === 'job.retrying') expect(retry.runAt - retry.ts).toBe(50);
      expect(await q.getJob('test.retry', id)).toMatchObject({ state: 'completed', attemptsMade: 2 });
    });

    it('backs off exponentially from 2 s by default', async () => {
      const { id } = await q.add('test.backoff', null);
      q.process('test.backoff', async () => {
        throw new Error('down');
      });
      const e = await waitForEvent(q, (ev) => ev.type === 'job.retrying' && ev.jobId === id);
      if (e.type !== 'job.retrying') throw new Error('unreachable');
      expect(e.runAt - e.ts).toBeGreaterThanOrEqual(1990);
      expect(e.runAt - e.ts).toBeLessThanOrEqual(2010);
      expect(await q.counts('test.backoff')).toMatchObject({ delayed: 1 });
    });

    it('after the last attempt files a dead letter; it can be listed, retried and resolved', async () => {
      const { id } = await q.add('test.dead', { to: '5215512345678' }, { attempts: 2, ...fast });
      let fail = true;
      q.process('test.dead', async () => {
        if (fail) throw new Error('evolution 500');
        return 'sent';
      });
      const dead = await waitForEvent(q, (e) => e.type === 'job.dead' && e.jobId === id);
      expect(dead).toMatchObject({ attempts: 2, error: 'evolution 500' });
      expect(await q.getJob('test.dead', id)).toMatchObject({
        state: 'failed',
        attemptsMade: 2,
        error: 'evolution 500',
      });
      expect((await q.counts('test.dead')).failed).toBe(1);
      const page = await q.deadLetters.list({ queue: 'test.dead' });
      expect(page.items).toHaveLength(1);
      const dl = page.items[0]!;
      expect(dl).toMatchObject({
        queue: 'test.dead',
        jobId: id,
        payload: { to: '5215512345678' },
        error: 'evolution 500',
        attempts: 2,
        resolved: false,
        retriedAs: [],
      });
      expect(dead.type === 'job.dead' && dead.deadLetterId).toBe(dl.id);

      fail = false;
      // Listening first: the new job may be done before retry() has recorded it and returned.
      const completed = waitForEvent(q, (e) => e.type === 'job.completed' && e.queue === 'test.dead');
      const again = await q.deadLetters.retry(dl.id);
      expect(again.id).not.toBe(id);
      expect(await completed).toMatchObject({ jobId: again.id });
      expect(await q.getJob('test.dead', again.id)).toMatchObject({ state: 'completed', attemptsMade: 0 });
      expect((await q.deadLetters.get(dl.id))?.retriedAs).toEqual([again.id]);

      const resolved = await q.deadLetters.resolve(dl.id);
      expect(resolved.resolved).toBe(true);
      expect(resolved.resolvedAt).toBeGreaterThan(0);
      expect((await q.deadLetters.list({ resolved: false })).items).toHaveLength(0);
      expect((await q.deadLetters.list({ resolved: true })).items).toHaveLength(1);
      await expect(q.deadLetters.resolve('999999')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(q.deadLetters.retry('not-an-id')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expectValidationError(q.deadLetters.list({ limit: 0 }));
    });

    it('retries a dead letter once per intent: again while its job is unfinished (or at once) makes none', async () => {
      const { id } = await q.add('test.dlonce', 'payload', { attempts: 1 });
      let fail = true;
      q.process('test.dlonce', async () => {
        if (fail) throw new Error('down');
        return 'ok';
      });
      await waitForEvent(q, (e) => e.type === 'job.dead' && e.jobId === id);
      const dl = (await q.deadLetters.list({ queue: 'test.dlonce' })).items[0]!;
      await q.pause('test.dlonce');
      const first = await q.deadLetters.retry(dl.id);
      expect(first.deduplicated).toBe(false);
      // A double click, and two clients at once, while the retried job waits.
      const again = [
        await q.deadLetters.retry(dl.id),
        ...(await Promise.all([1, 2].map(() => q.deadLetters.retry(dl.id)))),
      ];
      for (const r of again) expect(r).toEqual({ id: first.id, queue: 'test.dlonce', deduplicated: true });
      expect((await q.deadLetters.get(dl.id))?.retriedAs).toEqual([first.id]);
      expect(await q.counts('test.dlonce')).toMatchObject({ waiting: 1 });

      fail = false;
      const completed = (jobId: string) => async () =>
        (await q.getJob('test.dlonce', jobId))?.state === 'completed';
      await q.resume('test.dlonce');
      await until(completed(first.id), 5000, 'the first retry done');
      // Finished: a retry now is a new intent; two at once still make one job.
      const [a, b] = await Promise.all([q.deadLetters.retry(dl.id), q.deadLetters.retry(dl.id)]);
      expect(a.id).not.toBe(first.id);
      expect(b.id).toBe(a.id);
      expect([a.deduplicated, b.deduplicated].sort()).toEqual([false, true]);
      await until(completed(a.id), 5000, 'the second retry done');
      expect((await q.deadLetters.get(dl.id))?.retriedAs).toEqual([first.id, a.id]);
    });

    it('pages dead letters newest first', async () => {
      q.process('test.dlpage', async () => {
        throw new UnrecoverableError('nope');
      });
      for (let i = 0; i < 5; i++) {
        const { id } = await q.add('test.dlpage', i);
        await waitForEvent(q, (e) => e.type === 'job.dead' && e.jobId === id);
      }
      const p1 = await q.deadLetters.list({ queue: 'test.dlpage', limit: 2 });
      expect(p1.items.map((d) => d.payload)).toEqual([4, 3]);
      const p2 = await q.deadLetters.list({ queue: 'test.dlpage', limit: 2, cursor: p1.nextCursor });
      const p3 = await q.deadLetters.list({ queue: 'test.dlpage', limit: 2, cursor: p2.nextCursor });
      expect(p2.items.map((d) => d.payload)).toEqual([2, 1]);
      expect(p3.items.map((d) => d.payload)).toEqual([0]);
      expect(p3.nextCursor).toBeUndefined();
    });

    it("lists one org's dead letters only, paging across the others'", async () => {
      q.process('test.dlorg', async () => {
        throw new UnrecoverableError('nope');
      });
      for (let i = 0; i < 7; i++) {
        const { id } = await q.add('test.dlorg', { orgId: i % 3 === 0 ? 'org-a' : 'org-b', i });
        await waitForEvent(q, (e) => e.type === 'job.dead' && e.jobId === id);
      }
      const p1 = await q.deadLetters.list({ queue: 'test.dlorg', orgId: 'org-a', limit: 2 });
      expect(p1.items.map((d) => (d.payload as { i: number }).i)).toEqual([6, 3]);
      const p2 = await q.deadLetters.list({ orgId: 'org-a', limit: 2, cursor: p1.nextCursor });
      expect(p2.items.map((d) => (d.payload as { i: number }).i)).toEqual([0]);
      expect(p2.nextCursor).toBeUndefined();
      expect((await q.deadLetters.list({ queue: 'test.dlorg', orgId: 'org-c' })).items).toEqual([]);
    });

    it('an unrecoverable error skips the remaining attempts', async () => {
      const { id } = await q.add('test.unrec', null, { attempts: 5, ...fast });
      let calls = 0;
      q.process('test.unrec', async () => {
        calls++;
        throw new UnrecoverableError('number not on WhatsApp');
      });
      const dead = await waitForEvent(q, (e) => e.type === 'job.dead' && e.jobId === id);
      expect(dead).toMatchObject({ attempts: 1, error: 'number not on WhatsApp' });
      expect(calls).toBe(1);
      // No cause with a code: the dead letter has the text only.
      const dl = await q.deadLetters.get(dead.type === 'job.dead' ? dead.deadLetterId : '');
      expect(dl).toMatchObject({ error: 'number not on WhatsApp' });
      expect(dl).not.toHaveProperty('errorCode');
    });

    it("a dead letter keeps the failure's code: a service call's kind, or the engine's error code", async () => {
      const service = new AppError('VALIDATION_ERROR', 'not on WhatsApp', {
        service: 'evolution',
        kind: 'not_on_whatsapp',
      });
      const cases = [
        {
          data: 'service',
          thrown: new UnrecoverableError('gave up', { cause: service }),
          code: 'evolution.not_on_whatsapp',
        },
        {
          data: 'engine',
          thrown: new AppError('INSUFFICIENT_CREDITS', 'no credit'),
          code: 'INSUFFICIENT_CREDITS',
        },
      ];
      const ids = new Map<string, string>();
      for (const c of cases) ids.set((await q.add('test.code', c.data, { attempts: 1 })).id, c.code);
      q.process('test.code', async (job) => {
        throw cases.find((c) => c.data === job.data)!.thrown;
      });
      for (const [id, code] of ids) {
        const dead = await waitForEvent(q, (e) => e.type === 'job.dead' && e.jobId === id);
        const dl = await q.deadLetters.get(dead.type === 'job.dead' ? dead.deadLetterId : '');
        expect(dl?.errorCode).toBe(code);
      }
    });

    it('"retry later" postpones without spending an attempt', async () => {
      const events = recordEvents(q);
      const { id } = await q.add('test.later', null, { attempts: 1 });
      const seen: number[] = [];
      q.process('test.later', async (job) => {
        seen.push(job.attempt);
        if (seen.length < 3) throw new RetryLaterError(60, 'instance pacing');
        return 'done';
      });
      await waitForEvent(q, (e) => e.type === 'job.completed' && e.jobId === id);
      expect(seen).toEqual([1, 1, 1]);
      const later = events.filter((e) => e.type === 'job.retrying' && e.jobId === id);
      expect(later).toHaveLength(2);
      expect(later[0]).toMatchObject({ attemptSpent: false, reason: 'instance pacing' });
      expect(await q.getJob('test.later', id)).toMatchObject({ state: 'completed', attemptsMade: 0 });
    });

    it('survives handlers that throw non-Errors or return garbage', async () => {
      const throws: unknown[] = ['a string', undefined, { code: 7 }, null];
      const ids: string[] = [];
      for (let i = 0; i < throws.length; i++) ids.push((await q.add('test.garbage', i, { attempts: 1 })).id);
      const ok1 = await q.add('test.garbage', 'cyclic-result', { attempts: 1 });
      const ok2 = await q.add('test.garbage', 'fn-result', { attempts: 1 });
      const ok3 = await q.add('test.garbage', 'final', { attempts: 1 });
      q.process<number | string>('test.garbage', async (job) => {
        if (typeof job.data === 'number') throw throws[job.data];
        if (job.data === 'cyclic-result') {
          const c: Record<string, unknown> = {};
          c.c = c;
          return c;
        }
        if (job.data === 'fn-result') return () => 1;
        return 'fine';
      });
      await waitForEvent(q, (e) => e.type === 'job.completed' && e.jobId === ok3.id);
      await until(async () => (await q.counts('test.garbage')).failed === 4, 3000, 'four failures');
      expect((await q.getJob('test.garbage', ids[0]!))?.error).toBe('a string');
      expect((await q.getJob('test.garbage', ok1.id))?.state).toBe('completed');
      expect((await q.getJob('test.garbage', ok2.id))?.state).toBe('completed');
      expect((await q.getJob('test.garbage', ok3.id))?.result).toBe('fine');
    });

    it('fails an attempt that hangs past its timeout and aborts its signal', async () => {
      const { id } = await q.add('test.hang', null, { attempts: 1, timeoutMs: 150 });
      const next = await q.add('test.hang', 'next', { attempts: 1 });
      let aborted = false;
      q.process('test.hang', async (job) => {
        if (job.data === 'next') return 'ok';
        job.signal.addEventListener('abort', () => (aborted = true));
        return new Promise(() => {});
      });
      const dead = await waitForEvent(q, (e) => e.type === 'job.dead' && e.jobId === id);
      expect(dead.type === 'job.dead' && dead.error).toMatch(/timed out after 150 ms/);
      expect(aborted).toBe(true);
      await waitForEvent(q, (e) => e.type === 'job.completed' && e.jobId === next.id);
      const dl = await q.deadLetters.get(dead.type === 'job.dead' ? dead.deadLetterId : '');
      expect(dl?.errorCode).toBe('job.timeout');
    });

    it('never runs more than `concurrency` jobs at once', async () => {
      let running = 0;
      let peak = 0;
      const ids = (
        await q.addBulk(Array.from({ length: 8 }, (_, i) => ({ queue: 'test.conc', data: i })))
      ).map((r) => r.id);
      q.process(
        'test.conc',
        async () => {
          running++;
          peak = Math.max(peak, running);
          await sleep(40);
          running--;
        },
        { concurrency: 3 },
      );
      await until(async () => (await q.counts('test.conc')).completed === ids.length, 5000, 'all jobs');
      expect(peak).toBe(3);
    });

    it('pause holds jobs; resume releases them', async () => {
      await q.pause('test.pause');
      const ran: unknown[] = [];
      q.process('test.pause', async (job) => void ran.push(job.data));
      await q.add('test.pause', 1);
      // Waiting, not spinning on the due job it may not take (the last measured spin: ~17 % of a core).
      const cpu = process.cpuUsage();
      await sleep(1_000);
      const { user, system } = process.cpuUsage(cpu);
      expect((user + system) / 1000).toBeLessThan(80);
      expect(ran).toEqual([]);
      expect(await q.counts('test.pause')).toMatchObject({ waiting: 1, paused: true });
      await q.resume('test.pause');
      await until(() => ran.length === 1, 3000, 'the job after resume');
      expect((await q.counts('test.pause')).paused).toBe(false);
    });

    it('reports progress as an event and on the job', async () => {
      const { id } = await q.add('test.progress', null);
      q.process('test.progress', async (job) => {
        await job.progress({ pct: 50 });
        return 'done';
      });
      const p = await waitForEvent(q, (e) => e.type === 'job.progress' && e.jobId === id);
      expect(p).toMatchObject({ progress: { pct: 50 } });
      await waitForEvent(q, (e) => e.type === 'job.completed' && e.jobId === id);
      expect((await q.getJob('test.progress', id))?.progress).toEqual({ pct: 50 });
    });

    it('repeatable schedules fire on their cron and are idempotent across restarts', async () => {
      await expectValidationError(q.schedule('test.cron', { key: 'bad', cron: '99 * * * *' }));
      await expectValidationError(
        q.schedule('test.cron', { key: 'bad', cron: '* * * * *', tz: 'Mars/Base' }),
      );
      const s = await q.schedule('test.cron', { key: 'tick', cron: '* * * * * *', data: { kind: 'tick' } });
      expect(s).toMatchObject({ queue: 'test.cron', key: 'tick', cron: '* * * * * *', tz: 'UTC' });
      expect(s.nextRunAt).toBeGreaterThan(Date.now() - 1000);
      await q.schedule('test.cron', { key: 'tick', cron: '* * * * * *', data: { kind: 'tick' } });
      const q2 = await h.reopen();
      extra.push(q2);
      await q2.schedule('test.cron', { key: 'tick', cron: '* * * * * *', data: { kind: 'tick' } });
      expect(await q2.schedules('test.cron')).toHaveLength(1);
      await q.schedule('test.cron', { key: 'monthly', cron: '0 0 1 * *', tz: 'America/Mexico_City' });
      expect((await q.schedules('test.cron')).map((x) => x.key).sort()).toEqual(['monthly', 'tick']);
      const got: unknown[] = [];
      const events = recordEvents(q);
      q.process('test.cron', async (job) => void got.push(job.data));
      // Completed, not only run: a tick's job.completed comes after its handler returned.
      const completed = () => [
        ...new Set(events.filter((e) => e.type === 'job.completed').map((e) => e.jobId)),
      ];
      await until(() => completed().length >= 2, 4500, 'two scheduled runs');
      expect(got[0]).toEqual({ kind: 'tick' });
      // Each tick is announced queued once, before it runs, on both backends.
      const ticks = completed();
      for (const jobId of ticks) {
        const types = events.filter((e) => e.jobId === jobId).map((e) => e.type);
        expect(types, jobId).toEqual(['job.queued', 'job.active', 'job.completed']);
      }
      expect(await q.unschedule('test.cron', 'tick')).toBe(true);
      expect(await q.unschedule('test.cron', 'tick')).toBe(false);
      expect((await q.schedules('test.cron')).map((x) => x.key)).toEqual(['monthly']);
    });

    it('a tick that fell due while no worker ran runs once after a restart that schedules it again', async () => {
      // A cron that fires once a minute, two seconds from now.
      const second = new Date(Date.now() + 2_000).getUTCSeconds();
      const input = { key: 'minutely', cron: `${second} * * * * *`, data: { kind: 'missed' } };
      const s = await q.schedule('test.missed', input);
      expect(s.nextRunAt).toBeLessThan(Date.now() + 3_000);
      await sleep(s.nextRunAt - Date.now() + 300); // the engine is down across the tick
      const q2 = await h.reopen();
      extra.push(q2);
      await q2.schedule('test.missed', input); // what every start does
      const got: unknown[] = [];
      q2.process('test.missed', async (job) => void got.push(job.data));
      await until(() => got.length === 1, 4_000, 'the missed tick');
      expect(got).toEqual([{ kind: 'missed' }]);
    });

    it('a schedule with the longest key allowed ticks, and the queue keeps running its other jobs', async () => {
      await q.schedule('test.longkey', { key: 'k'.repeat(200), cron: '* * * * * *', data: { kind: 'tick' } });
      const got: unknown[] = [];
      q.process('test.longkey', async (job) => void got.push(job.data));
      await q.add('test.longkey', { kind: 'plain' });
      await until(() => got.length >= 2, 4500, 'a tick and the plain job');
      expect(got).toContainEqual({ kind: 'tick' });
      expect(got).toContainEqual({ kind: 'plain' });
    });

    it('closing a worker past its grace period puts active jobs back to waiting', async () => {
      const { id } = await q.add('test.close', null);
      const w = q.process('test.close', async (job) => {
        await new Promise((r) => job.signal.addEventListener('abort', r));
        throw new Error('aborted');
      });
      await waitForEvent(q, (e) => e.type === 'job.active' && e.jobId === id);
      await w.close(100);
      await until(async () => (await q.counts('test.close')).waiting === 1, 3000, 'the job back to waiting');
      expect(await q.getJob('test.close', id)).toMatchObject({ state: 'waiting', attemptsMade: 0 });
      q.process('test.close', async () => 'second time');
      await waitForEvent(q, (e) => e.type === 'job.completed' && e.jobId === id);
    });

    it('a job that kills its worker every time goes to the dead letters after a few stalls, not on forever', async () => {
      const { id } = await q.add('test.poison', null);
      const buried = async () => (await q.deadLetters.list({ queue: 'test.poison' })).items[0];
      let deaths = 0;
      for (let start = 0; start < 10 && !(await buried()); start++) {
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', join(import.meta.dirname, 'crash-worker.ts')],
          {
            env: { ...process.env, ...h.childEnv, CRASH_LOG: join(h.childEnv.CRASH_DIR!, 'poison.log') },
            stdio: ['ignore', 'inherit', 'inherit'],
          },
        );
        const exited = new Promise((r) => child.once('exit', r));
        // Until the job kills it, or the job is given up (the process then lives on, idle).
        while (child.exitCode === null && child.signalCode === null && !(await buried())) await sleep(50);
        if (child.signalCode === 'SIGKILL') deaths++;
        child.kill('SIGKILL');
        await exited;
      }
      expect(await buried()).toMatchObject({ jobId: id, error: STALLED.error, errorCode: STALLED.code });
      expect(deaths).toBeGreaterThanOrEqual(MAX_STALLS);
      expect(deaths).toBeLessThanOrEqual(MAX_STALLS + 2);
      expect(await q.getJob('test.poison', id)).toMatchObject({ state: 'failed' });
    }, 60_000);

    it('kill -9 of a worker process loses no job and completes none twice', async () => {
      const total = 30;
      const concurrency = 4;
      await q.addBulk(Array.from({ length: total }, (_, i) => ({ queue: 'test.crash', data: i })));
      const dir = h.childEnv.CRASH_DIR!;
      const log = join(dir, 'completed.log');
      const start = (): ChildProcess =>
        spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'crash-worker.ts')], {
          env: { ...process.env, ...h.childEnv, CRASH_LOG: log, CRASH_CONCURRENCY: String(concurrency) },
          stdio: ['ignore', 'inherit', 'inherit'],
        });
      const lines = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []);
      const first = start();
      await until(() => lines().length >= 5, 15_000, 'the first completions');
      const exited = new Promise((r) => first.once('exit', r));
      first.kill('SIGKILL');
      await exited;
      const done = lines().length;
      expect(done).toBeLessThan(total);
      const second = start();
      try {
        await until(
          async () => (await q.counts('test.crash')).completed === total,
          30_000,
          'every job completed',
        );
        await sleep(300);
      } finally {
        second.kill('SIGKILL');
      }
      expect(await q.counts('test.crash')).toMatchObject({
        completed: total,
        waiting: 0,
        active: 0,
        failed: 0,
      });
      // The log is written right after each completion commits: a job completed twice shows up twice.
      // A kill between a commit and its log line can only make lines missing, never add one: at most
      // one per job in flight (BullMQ's completions are Redis round trips that may land just before).
      const ids = lines();
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.length).toBeGreaterThanOrEqual(total - concurrency);
    });
  });
}
