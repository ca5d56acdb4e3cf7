import type { TestProject } from 'vitest/node';
import { startRedis } from './redis.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A Redis for the whole run; tests isolate themselves with their own key prefix. */
    redisUrl: string;
  }
}

/** One Redis for the whole test run, unless REDIS_URL points at one already. */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const existing = process.env.REDIS_URL;
  if (existing) {
    project.provide('redisUrl', existing);
    return undefined;
  }
  const redis = await startRedis();
  project.provide('redisUrl', redis.url);
  return () => redis.stop();
}
