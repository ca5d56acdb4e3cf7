import type { z } from 'zod';
import {
  PullResponseSchema,
  PushResponseSchema,
  type PullResponse,
  type PushRequest,
  type PushResponse,
} from '../../contracts/sync.ts';
import { ReferralsReportSchema, type ReferralsReport } from '../../contracts/hosted-ledger.ts';
import { AppError, errorMessage } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import { serviceUrl } from '../../service-url.ts';

/*
 * The hosted ledger's sync endpoints over HTTP, with retries: network errors, timeouts, 5xx and 429
 * are retried with exponential backoff and jitter (a 429's or 503's Retry-After is honoured, capped);
 * any other answer is final. Both calls are safe to repeat: a push is idempotent by entry id, a pull
 * only reads.
 */

export interface RetryPolicy {
  /** Tries per call, the first included. */
  attempts: number;
  /** First backoff; doubles each retry. */
  baseMs: number;
  /** Longest wait between two tries (also caps Retry-After). */
  maxMs: number;
  /** Per-request timeout. */
  timeoutMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseMs: 250, maxMs: 10_000, timeoutMs: 15_000 };
/** Reports shown in the UI: a second try only, and a short timeout. */
const REPORT_RETRY: Partial<RetryPolicy> = { attempts: 2, maxMs: 1_000, timeoutMs: 5_000 };

export interface SyncClient {
  push(body: PushRequest, signal?: AbortSignal): Promise<PushResponse>;
  pull(query: { cursor?: string; limit: number }, signal?: AbortSignal): Promise<PullResponse>;
  /** `GET /v1/orgs/:id/referrals` with the device token: two quick tries at most (a person is waiting). */
  referrals(orgId: string, signal?: AbortSignal): Promise<ReferralsReport>;
}

export interface SyncClientDeps {
  baseUrl: string;
  token: string;
  fetch?: typeof fetch;
  retry?: Partial<RetryPolicy>;
  random?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  log?: Logger;
}

/** An answer that will not get better by asking again. */
class FinalAnswer extends Error {}

const abortableSleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const t = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(t);
      reject(signal!.reason as Error);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Retry-After as seconds or an HTTP date, in ms from now; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const s = Number(value);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export function createSyncClient(deps: SyncClientDeps): SyncClient {
  const doFetch = deps.fetch ?? fetch;
  const defaults = { ...DEFAULT_RETRY, ...deps.retry };
  const random = deps.random ?? Math.random;
  const sleep = deps.sleep ?? abortableSleep;

  async function once<S extends z.ZodType>(
    path: string,
    init: RequestInit,
    schema: S,
    signal: AbortSignal | undefined,
    policy: RetryPolicy,
  ): Promise<{ ok: true; value: z.output<S> } | { ok: false; error: string; waitMs?: number }> {
    const timeout = AbortSignal.timeout(policy.timeoutMs);
    let res: Response;
    try {
      res = await doFetch(serviceUrl(deps.baseUrl, path), {
        ...init,
        headers: {
          authorization: `Bearer ${deps.token}`,
          accept: 'application/json',
          ...(init.body ? { 'content-type': 'application/json' } : {}),
        },
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      return { ok: false, error: `cannot reach the hosted ledger: ${errorMessage(err)}` };
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      if (signal?.aborted) throw err;
      return { ok: false, error: `the hosted ledger's answer broke off: ${errorMessage(err)}` };
    }
    if (res.status === 429 || res.status >= 500) {
      return {
        ok: false,
        error: `the hosted ledger answered ${res.status}: ${text.slice(0, 200)}`,
        waitMs: retryAfterMs(res.headers.get('retry-after')),
      };
    }
    if (!res.ok) {
      const code = res.status === 401 || res.status === 403 ? 'UNAUTHORIZED' : 'UNAVAILABLE';
      throw new AppError(code, `the hosted ledger refused ${path} (${res.status}): ${text.slice(0, 300)}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { ok: false, error: `the hosted ledger sent invalid JSON for ${path}` };
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new FinalAnswer(`the hosted ledger's answer to ${path} is not the protocol's`);
    return { ok: true, value: parsed.data };
  }

  async function call<S extends z.ZodType>(
    path: string,
    init: RequestInit,
    schema: S,
    signal?: AbortSignal,
    policy: RetryPolicy = defaults,
  ): Promise<z.output<S>> {
    let last = '';
    for (let attempt = 1; attempt <= policy.attempts; attempt++) {
      let r: Awaited<ReturnType<typeof once<S>>>;
      try {
        r = await once(path, init, schema, signal, policy);
      } catch (err) {
        if (err instanceof FinalAnswer) throw new AppError('UNAVAILABLE', err.message);
        throw err;
      }
      if (r.ok) return r.value;
      last = r.error;
      if (attempt === policy.attempts) break;
      const backoff = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
      // Full jitter on our own backoff; a server's Retry-After is a floor, not a suggestion.
      const wait = Math.min(
        policy.maxMs,
        Math.max(r.waitMs ?? 0, Math.round(backoff * (0.5 + random() / 2))),
      );
      deps.log?.debug({ path, attempt, wait, error: r.error }, 'hosted ledger call failed, retrying');
      await sleep(wait, signal);
    }
    throw new AppError('UNAVAILABLE', `${last} (after ${policy.attempts} tries)`);
  }

  return {
    push: (body, signal) =>
      call('v1/sync/push', { method: 'POST', body: JSON.stringify(body) }, PushResponseSchema, signal),
    pull(query, signal) {
      const qs = new URLSearchParams({ limit: String(query.limit) });
      if (query.cursor !== undefined) qs.set('cursor', query.cursor);
      return call(`v1/sync/pull?${qs}`, { method: 'GET' }, PullResponseSchema, signal);
    },
    referrals: (orgId, signal) =>
      call(
        `v1/orgs/${encodeURIComponent(orgId)}/referrals`,
        { method: 'GET' },
        ReferralsReportSchema,
        signal,
        { ...defaults, ...REPORT_RETRY },
      ),
  };
}
