import { describe, expect, it } from 'vitest';
import { Limiter } from './limiter.ts';

describe('Limiter', () => {
  it('lets `limit` holders in, queues the rest in order, and hands each freed slot on', async () => {
    const limiter = new Limiter(2);
    const order: number[] = [];
    const a = await limiter.acquire();
    const b = await limiter.acquire();
    const c = limiter.acquire().then((release) => (order.push(3), release));
    const d = limiter.acquire().then((release) => (order.push(4), release));
    expect([limiter.running, limiter.queued]).toEqual([2, 2]);
    a();
    a(); // a second release is a no-op, not a second slot
    (await c)();
    expect(order).toEqual([3]);
    b();
    (await d)();
    expect(order).toEqual([3, 4]);
    expect([limiter.running, limiter.queued]).toEqual([0, 0]);
  });

  it('drops a waiter whose signal aborts, without it ever holding a slot', async () => {
    const limiter = new Limiter(1);
    const held = await limiter.acquire();
    const stop = new AbortController();
    const waiting = limiter.acquire(stop.signal);
    stop.abort(new Error('cancelled'));
    await expect(waiting).rejects.toThrow('cancelled');
    expect(limiter.queued).toBe(0);
    held();
    expect(limiter.running).toBe(0);
    await expect(limiter.acquire(stop.signal)).rejects.toThrow('cancelled');
  });
});
