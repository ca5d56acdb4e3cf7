import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import { createRateLimiter } from './rate-limit.ts';

const refusal = (fn: () => void) => {
  try {
    fn();
  } catch (err) {
    return err as AppError;
  }
  throw new Error('expected RATE_LIMITED');
};

describe('the in-memory rate limiter', () => {
  it('allows the plan limit per org in a one-minute window from its first request, then says when to retry', async () => {
    let now = 1_000_000;
    const limiter = createRateLimiter({ now: () => now });
    const consumeNow = limiter.consumeNow!;
    for (let i = 0; i < 3; i++) consumeNow('org-a', 3);
    now += 20_500;
    const err = refusal(() => consumeNow('org-a', 3));
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'RATE_LIMITED', details: { limit: 3, retryAfterS: 40 } });
    // Another org has its own window; the async form counts the same way.
    consumeNow('org-b', 3);
    await expect(limiter.consume('org-a', 3)).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    // A refused request does not count: the window still ends a minute after the first request.
    now = 1_000_000 + 60_000;
    for (let i = 0; i < 3; i++) consumeNow('org-a', 3);
    expect(refusal(() => consumeNow('org-a', 3)).details).toMatchObject({ retryAfterS: 60 });
  });

  it('a plan with another limit starts a fresh window; sweeping ended windows keeps live ones', () => {
    let now = 0;
    const limiter = createRateLimiter({ now: () => now });
    const consumeNow = limiter.consumeNow!;
    consumeNow('org', 1);
    expect(refusal(() => consumeNow('org', 1)).code).toBe('RATE_LIMITED');
    consumeNow('org', 60); // upgraded
    for (let i = 0; i < 1_100; i++) consumeNow(`org-${i}`, 1);
    now = 61_000; // those windows have ended
    consumeNow('live', 1);
    consumeNow('newcomer', 1); // the map is full of ended windows: they are swept
    expect(refusal(() => consumeNow('live', 1)).details).toMatchObject({ retryAfterS: 60 });
    consumeNow('org-7', 1); // its ended window was swept: a fresh one
  });
});
