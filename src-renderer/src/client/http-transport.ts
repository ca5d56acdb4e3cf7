import { OPERATIONS, type Operation, type OperationName } from '../../../src-engine/contracts/operations.ts';
import type { ConnectionState, Transport } from './engine-client.ts';
import { errorFromBody, toClientError } from './errors.ts';

export const API_PREFIX = '/api/v1';

export interface HttpRequest {
  method: 'GET' | 'POST';
  /** Path and query, relative to the base URL. */
  url: string;
  body?: string;
}

/**
 * The HTTP request for an operation: path parameters (`:id`) come out of the input, the rest is the
 * query string (GET) or the JSON body (POST), as the engine's routes merge them back.
 */
export function httpRequestFor(op: Pick<Operation, 'method' | 'path'>, input: unknown): HttpRequest {
  const rest: Record<string, unknown> = { ...(input as Record<string, unknown>) };
  const path = op.path.replace(/:([A-Za-z]+)/g, (_m, name: string) => {
    const value = rest[name];
    delete rest[name];
    return encodeURIComponent(String(value));
  });
  if (op.method === 'POST') return { method: 'POST', url: API_PREFIX + path, body: JSON.stringify(rest) };
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(rest)) if (v !== undefined && v !== null) query.set(k, String(v));
  const qs = query.toString();
  return { method: 'GET', url: `${API_PREFIX}${path}${qs ? `?${qs}` : ''}` };
}

export interface Backoff {
  baseMs: number;
  maxMs: number;
}
export const DEFAULT_BACKOFF: Backoff = { baseMs: 500, maxMs: 30_000 };

/** Exponential backoff with "equal jitter": between half and all of min(max, base·2^attempt). */
export function backoffDelay(attempt: number, policy: Backoff, random: () => number): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(exp / 2 + (random() * exp) / 2);
}

/** The constructor part of the WebSocket API this transport uses (browsers and Node 22 alike). */
export type WebSocketLike = Pick<WebSocket, 'close'> & {
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
};

export interface HttpTransportOptions {
  /** The engine's address, e.g. `http://127.0.0.1:7420`. */
  baseUrl: string;
  /** Session token or API key: `Authorization: Bearer` for calls, `?key=` for the event stream. */
  token: string;
  fetch?: typeof fetch;
  WebSocket?: new (url: string) => WebSocketLike;
  backoff?: Backoff;
  random?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

/** HTTP for operations, a WebSocket that reconnects with backoff for events. */
export function createHttpTransport(opts: HttpTransportOptions): Transport {
  const base = opts.baseUrl.replace(/\/+$/, '');
  const doFetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
  const WS = opts.WebSocket ?? (globalThis.WebSocket as unknown as new (url: string) => WebSocketLike);
  const policy = opts.backoff ?? DEFAULT_BACKOFF;
  const random = opts.random ?? Math.random;
  const setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
  const clearTimer = opts.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));

  return {
    kind: 'http',
    async call(name: OperationName, input: unknown) {
      const req = httpRequestFor(OPERATIONS[name], input);
      let res: Response;
      try {
        res = await doFetch(base + req.url, {
          method: req.method,
          headers: {
            authorization: `Bearer ${opts.token}`,
            ...(req.body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: req.body,
        });
      } catch (err) {
        throw toClientError(err);
      }
      const body: unknown = await res.json().catch(() => undefined);
      if (res.ok) return body;
      // Health answers 503 with its own body (degraded is a state to show, not a failure).
      if (name === 'health:get' && res.status === 503 && body !== undefined) return body;
      throw errorFromBody(body, res.status, res.headers.get('retry-after'));
    },

    listen(onEvent, onState) {
      const url = `${base.replace(/^http/, 'ws')}${API_PREFIX}/events?key=${encodeURIComponent(opts.token)}`;
      let stopped = false;
      let attempt = 0;
      let socket: WebSocketLike | undefined;
      let timer: unknown;
      const setState = (s: ConnectionState) => !stopped && onState(s);

      const connect = () => {
        setState('connecting');
        const ws = new WS(url);
        socket = ws;
        ws.onopen = () => {
          attempt = 0;
          setState('open');
        };
        ws.onmessage = (m) => {
          if (typeof m.data !== 'string') return;
          let event: unknown;
          try {
            event = JSON.parse(m.data);
          } catch {
            return;
          }
          if (!stopped) onEvent(event);
        };
        // A failed connection fires error then close: reconnecting from close covers both.
        ws.onerror = () => {};
        ws.onclose = () => {
          if (stopped) return;
          setState('closed');
          timer = setTimer(connect, backoffDelay(attempt++, policy, random));
        };
      };
      connect();

      return () => {
        stopped = true;
        clearTimer(timer);
        socket?.close();
      };
    },
  };
}
