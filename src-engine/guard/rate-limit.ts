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
  /**
   * The same, decided at once: limiters that keep their counts in this process have it. The guard then
   * counts a request inside its transaction, with the checks before it, instead of awaiting in between
   * and checking again.
   */
  consumeNow?(orgId: string, perMinute: number): void;
}

const WINDOW_MS = 60_000;

const rateLimited = (perMinute: number, msBeforeNext: number) =>
  new AppError('RATE_LIMITED', `Rate limit of ${perMinute} requests per minute reached`, {
    limit: perMinute,
    retryAfterS: Math.max(1, Math.ceil(msBeforeNext / 1000)),
  });

/**
 * Fixed one-minute windows per org, starting at its first request (rate-limiter-flexible's memory
 * semantics), kept in this process: the embedded engine is alone on its data dir (lock.ts). A plan
 * with another limit starts a fresh window.
 */
function memoryLimiter(now: () => number): Required<RateLimiter> {
  const windows = new Map<string, { endsAt: number; used: number }>();
  const consumeNow = (orgId: string, perMinute: number) => {
    const at = now();
    const key = `${perMinute}:${orgId}`;
    let w = windows.get(key);
    if (!w || w.endsAt <= at) {
      // Ended windows go when the map grows, so it holds about one entry per active org.
      if (!w && windows.size >= 1024) for (const [k, old] of windows) if (old.endsAt <= at) windows.delete(k);
      w = { endsAt: at + WINDOW_MS, used: 0 };
      windows.set(key, w);
    }
    if (w.used >= perMinute) throw rateLimited(perMinute, w.endsAt - at);
    w.used++;
  };
  return {
    consumeNow,
    consume: async (orgId, perMinute) => consumeNow(orgId, perMinute),
  };
}

/**
 * In memory for the embedded engine; in Redis (rate-limiter-flexible, fixed one-minute windows) when
 * REDIS_URL is set, so engines sharing it share limits — in memory again while Redis is unreachable.
 * The limit is per plan, so there is one Redis limiter per distinct limit.
 */
export function createRateLimiter(
  deps: { redis?: Redis; keyPrefix?: string; now?: () => number } = {},
): RateLimiter {
  const { redis } = deps;
  if (!redis) return memoryLimiter(deps.now ?? Date.now);
  const limiters = new Map<number, RateLimiterAbstract>();
  const limiterFor = (points: number) => {
    let l = limiters.get(points);
    if (!l) {
      const opts = { points, duration: 60, keyPrefix: `${deps.keyPrefix ?? 'agencia:rl'}:${points}` };
      // With Redis down, requests fall back to per-process limits instead of failing or hanging.
      l = new RateLimiterRedis({
        ...opts,
        storeClient: redis,
        rejectIfRedisNotReady: true,
        insuranceLimiter: new RateLimiterMemory(opts),
      });
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
        throw rateLimited(perMinute, err.msBeforeNext);
      }
    },
  };
}
