import type { Redis } from 'ioredis';
import {
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import { AppError, errorMessage } from '../errors.ts';

/** Counts one request of an org against its plan's per-minute limit; RATE_LIMITED when over it. */
export interface RateLimiter {
  consume(orgId: string, perMinute: number): Promise<void>;
}

/**
 * Fixed one-minute windows per org (rate-limiter-flexible). In memory for the embedded engine (one
 * engine per data dir, see lock.ts), in Redis when REDIS_URL is set so engines sharing it share limits
 * (in memory again while Redis is unreachable).
 * The limit is per plan, so there is one limiter per distinct limit.
 */
export function createRateLimiter(deps: { redis?: Redis; keyPrefix?: string } = {}): RateLimiter {
  const limiters = new Map<number, RateLimiterAbstract>();
  const limiterFor = (points: number) => {
    let l = limiters.get(points);
    if (!l) {
      const opts = { points, duration: 60, keyPrefix: `${deps.keyPrefix ?? 'agencia:rl'}:${points}` };
      // With Redis down, requests fall back to per-process limits instead of failing or hanging.
      l = deps.redis
        ? new RateLimiterRedis({
            ...opts,
            storeClient: deps.redis,
            rejectIfRedisNotReady: true,
            insuranceLimiter: new RateLimiterMemory(opts),
          })
        : new RateLimiterMemory(opts);
      limiters.set(points, l);
    }
    return l;
  };
  return {
    async consume(orgId, perMinute) {
      try {
        await limiterFor(perMinute).consume(orgId);
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) {
          throw new AppError('UNAVAILABLE', `Rate limiter unavailable: ${errorMessage(err)}`);
        }
        const retryAfterS = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
        throw new AppError('RATE_LIMITED', `Rate limit of ${perMinute} requests per minute reached`, {
          limit: perMinute,
          retryAfterS,
        });
      }
    },
  };
}
