import { errorMessage } from '../errors.ts';
import { RetryLaterError, UnrecoverableError, errorCodeOf } from './errors.ts';
import type { ActiveJob, JobHandler } from './port.ts';

export type AttemptOutcome =
  | { kind: 'completed'; result: unknown }
  | { kind: 'failed'; error: string; unrecoverable: boolean; code?: string }
  | { kind: 'later'; delayMs: number; reason: string };

/** Largest result kept with a completed job; larger ones are replaced by a note. */
const MAX_RESULT_BYTES = 64 * 1024;

/** Turns whatever the handler returned into something storable as JSON. */
export function storableResult(value: unknown): unknown {
  if (value === undefined) return null;
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    return { unserialisableResult: errorMessage(err) };
  }
  if (json === undefined) return null;
  if (json.length > MAX_RESULT_BYTES) return { truncatedResult: `${json.length} characters` };
  return JSON.parse(json) as unknown;
}

/**
 * Runs one attempt with a timeout. Whatever the handler does — resolve with garbage, throw a
 * non-Error, hang — the outcome is one of three kinds and the worker keeps going.
 * `stop` aborts the attempt from outside (worker closing).
 */
export async function runAttempt<T>(
  handler: JobHandler<T>,
  job: Omit<ActiveJob<T>, 'signal'>,
  timeoutMs: number,
  stop?: AbortSignal,
): Promise<AttemptOutcome> {
  const ctl = new AbortController();
  const onStop = () => ctl.abort(new Error('worker closing'));
  stop?.addEventListener('abort', onStop, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<AttemptOutcome>((resolve) => {
    timer = setTimeout(() => {
      const error = `timed out after ${timeoutMs} ms`;
      ctl.abort(new Error(error));
      resolve({ kind: 'failed', error, unrecoverable: false, code: 'job.timeout' });
    }, timeoutMs);
  });
  const run = (async (): Promise<AttemptOutcome> => {
    try {
      const result = await handler({ ...job, signal: ctl.signal });
      return { kind: 'completed', result: storableResult(result) };
    } catch (err) {
      if (err instanceof RetryLaterError) {
        const delayMs = Number.isFinite(err.delayMs) ? Math.max(0, Math.round(err.delayMs)) : 1000;
        return { kind: 'later', delayMs, reason: err.message };
      }
      const code = errorCodeOf(err);
      return {
        kind: 'failed',
        error: errorMessage(err),
        unrecoverable: err instanceof UnrecoverableError,
        ...(code === undefined ? {} : { code }),
      };
    }
  })();
  try {
    return await Promise.race([run, timedOut]);
  } finally {
    clearTimeout(timer);
    stop?.removeEventListener('abort', onStop);
  }
}
