import type { IncomingMessage } from 'node:http';
import type Docker from 'dockerode';
import { AppError, errorMessage } from '../errors.ts';

interface DockerError {
  statusCode?: number;
  code?: string;
  message?: string;
}

/** Docker took the connection but gave no answer in time: a hung daemon, not a refused one. */
export class DockerNoAnswer extends Error {
  override readonly name = 'DockerNoAnswer';
  constructor(readonly ms: number) {
    super(`Docker did not answer within ${ms} ms`);
  }
}

/**
 * One Docker call, bounded: it is given up (its request aborted) after `ms`, or when `signal`
 * aborts (a cancel, the run's end). The call gets a signal of its own that can abort only while
 * the call is pending: a stream it opened (attach, wait) lives on untouched after it resolves.
 */
export async function bounded<T>(
  call: (abortSignal: AbortSignal) => Promise<T>,
  ms: number,
  signal?: AbortSignal,
): Promise<T> {
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(new DockerNoAnswer(ms)), ms);
  const onAbort = (): void => stop.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) onAbort();
  try {
    if (stop.signal.aborted) throw stop.signal.reason;
    return await call(stop.signal);
  } catch (err) {
    throw stop.signal.aborted ? stop.signal.reason : err;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * `POST /containers/{id}/wait?condition=next-exit`, in two steps: resolves when Docker has
 * registered the wait (it sends the headers only then), with `exit` resolving to the exit code.
 * Registering before `start` is what makes a runner that exits at once impossible to miss.
 * (Wrapped in an object: a promise resolved with a promise would wait for the inner one.)
 * `abortSignal` gives up the registration (see `bounded`).
 */
export function waitRegistered(
  docker: Docker,
  id: string,
  abortSignal?: AbortSignal,
): Promise<{ exit: Promise<number> }> {
  return new Promise((registered, fail) => {
    docker.modem.dial(
      {
        path: `/containers/${id}/wait?`,
        method: 'POST',
        abortSignal,
        isStream: true,
        statusCodes: { 200: true, 404: 'no such container', 500: 'server error' },
        options: { condition: 'next-exit' },
      },
      (err, result) => {
        if (err) return fail(err);
        const res = result as IncomingMessage;
        const exit = new Promise<number>((resolve, reject) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (s: string) => (body += s));
          res.on('error', reject);
          res.on('end', () => {
            try {
              const parsed = JSON.parse(body) as { StatusCode?: number; Error?: { Message?: string } | null };
              if (parsed.Error?.Message) reject(new Error(parsed.Error.Message));
              else resolve(parsed.StatusCode ?? -1);
            } catch {
              reject(new Error(`unexpected wait answer from Docker: ${body.slice(0, 200)}`));
            }
          });
        });
        exit.catch(() => {}); // the caller may never look (a failed start)
        registered({ exit });
      },
    );
  });
}

/** The container is already gone or stopped: nothing left to do for a kill or a removal. */
export function isGone(err: unknown): boolean {
  const e = err as DockerError;
  return e.statusCode === 404 || (e.statusCode === 409 && /is not running/i.test(e.message ?? ''));
}

/** A Docker failure in words a user can act on. Docker being down or the image missing are not bugs. */
export function dockerFailure(err: unknown, image: string): AppError {
  if (err instanceof AppError) return err;
  const e = err as DockerError;
  const message = errorMessage(err);
  if (err instanceof DockerNoAnswer) {
    return new AppError(
      'UNAVAILABLE',
      `Docker took the connection but did not answer within ${err.ms} ms. Is it hung?`,
    );
  }
  if (e.statusCode === 404 && /no such image/i.test(message)) {
    return new AppError(
      'UNAVAILABLE',
      `The cage image "${image}" is not built. Build it with \`cage build\`.`,
    );
  }
  if (e.code === 'ECONNREFUSED' || e.code === 'ENOENT' || e.code === 'EACCES' || e.code === 'ECONNRESET') {
    return new AppError(
      'UNAVAILABLE',
      `Docker is not reachable (${e.code}). Is it running, and is DOCKER_HOST right?`,
    );
  }
  return new AppError('UNAVAILABLE', `Docker could not run the cage: ${message}`);
}
