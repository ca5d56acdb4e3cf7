import { AppError } from '../errors.ts';

/** Thrown by a handler: run this job again after `delayMs` without spending an attempt. */
export class RetryLaterError extends Error {
  override readonly name = 'RetryLaterError';
  constructor(
    readonly delayMs: number,
    reason = 'not yet',
  ) {
    super(reason);
  }
}

/**
 * Thrown by a handler: the job can never succeed; no more attempts, straight to the dead letters.
 * Pass the error behind it as `cause`: its code goes with the dead letter (`errorCodeOf`).
 */
export class UnrecoverableError extends Error {
  override readonly name = 'UnrecoverableError';
}

/**
 * What a job's failure was, as a code a client can put in its user's words: `<service>.<kind>` for a
 * failed call to a service (e.g. `evolution.timeout`), else the engine's error code (e.g.
 * `INSUFFICIENT_CREDITS`); found on the error or its causes. Undefined for anything else.
 */
export function errorCodeOf(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e instanceof Error; depth++, e = e.cause) {
    if (e instanceof AppError) {
      const { service, kind } = (e.details ?? {}) as { service?: unknown; kind?: unknown };
      return typeof service === 'string' && typeof kind === 'string' ? `${service}.${kind}` : e.code;
    }
  }
  return undefined;
}

/**
 * A job whose worker died with it active goes back to waiting without spending an attempt, up to this
 * many times; past it (the job kills its worker, say) it fails for good with `STALLED`, on both backends.
 */
export const MAX_STALLS = 5;
/** BullMQ's own words for a job past `maxStalledCount`, and our error code for it. */
export const STALLED = { error: 'job stalled more than allowable limit', code: 'job.stalled' } as const;
