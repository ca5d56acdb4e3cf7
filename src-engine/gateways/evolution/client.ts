import type { z } from 'zod';
import {
  ConnectionStateAnswerSchema,
  EvolutionMessageSchema,
  FetchInstancesAnswerSchema,
  SendPresenceAnswerSchema,
  WhatsappNumbersAnswerSchema,
  type ConnectionStateAnswer,
  type EvolutionInstance,
  type EvolutionMessage,
  type OnWhatsApp,
  type SendPresenceAnswer,
  type SendPresenceBody,
  type SendTextBody,
} from '../../contracts/evolution.ts';
import { errorMessage } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import { serviceUrl } from '../../service-url.ts';
import { classifyAnswer, EvolutionError } from './errors.ts';

export interface EvolutionClientOptions {
  /** e.g. `http://127.0.0.1:8080`; a trailing slash is fine. */
  baseUrl: string;
  /** Sent as the `apikey` header: the global key, or the instance's own token. */
  apiKey: string;
  /** Per request, on top of any `delay` the request asks Evolution to wait. Default 15 s. */
  timeoutMs?: number;
  log?: Logger;
}

export interface EvolutionClient {
  /** Sends a text; the answer is the sent message, `key.id` being WhatsApp's message id. */
  sendText(instance: string, body: SendTextBody): Promise<EvolutionMessage>;
  sendPresence(instance: string, body: SendPresenceBody): Promise<SendPresenceAnswer>;
  connectionState(instance: string): Promise<ConnectionStateAnswer>;
  fetchInstances(): Promise<EvolutionInstance[]>;
  whatsappNumbers(instance: string, numbers: string[]): Promise<OnWhatsApp[]>;
}

const DEFAULT_TIMEOUT_MS = 15_000;

/** A typed client for Evolution API v2; every failure is an EvolutionError. */
export function createEvolutionClient(opts: EvolutionClientOptions): EvolutionClient {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const log = opts.log;

  async function request<S extends z.ZodType>(
    what: string,
    method: 'GET' | 'POST',
    path: string,
    schema: S,
    body: unknown,
    limitMs: number,
  ): Promise<{ status: number; data: z.output<S> }> {
    let res: Response;
    let text: string;
    try {
      res = await fetch(serviceUrl(opts.baseUrl, path), {
        method,
        headers: {
          apikey: opts.apiKey,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(limitMs),
      });
      text = await res.text();
    } catch (err) {
      if (err instanceof Error && err.name === 'TimeoutError') {
        throw new EvolutionError('timeout', `${what}: no answer within ${limitMs} ms`, { cause: err });
      }
      // undici says "fetch failed" and puts the reason (ECONNREFUSED, ...) in `cause`.
      const reason =
        err instanceof Error && err.cause !== undefined ? errorMessage(err.cause) : errorMessage(err);
      throw new EvolutionError('network', `${what}: ${reason}`, { cause: err });
    }
    const json = parseJson(text);
    if (!res.ok) throw classifyAnswer(res.status, json ?? text, what);
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new EvolutionError('bad_response', `${what}: unexpected answer (HTTP ${res.status})`, {
        httpStatus: res.status,
        cause: parsed.error,
      });
    }
    return { status: res.status, data: parsed.data };
  }

  async function call<S extends z.ZodType>(
    op: string,
    method: 'GET' | 'POST',
    path: string,
    schema: S,
    body?: unknown,
    // Evolution holds the answer while it shows the presence for `delay` ms.
    waitMs = 0,
  ): Promise<z.output<S>> {
    const started = performance.now();
    try {
      const { status, data } = await request(
        `Evolution ${op}`,
        method,
        path,
        schema,
        body,
        timeoutMs + waitMs,
      );
      log?.debug({ op, path, status, ms: Math.round(performance.now() - started) }, 'evolution call');
      return data;
    } catch (err) {
      if (err instanceof EvolutionError) {
        log?.warn(
          { op, path, kind: err.kind, status: err.httpStatus, err: err.message },
          'evolution call failed',
        );
      }
      throw err;
    }
  }

  const at = (route: string, instance: string) => `/${route}/${encodeURIComponent(instance)}`;

  return {
    sendText: (instance, body) =>
      call('sendText', 'POST', at('message/sendText', instance), EvolutionMessageSchema, body, body.delay),
    sendPresence: (instance, body) =>
      call(
        'sendPresence',
        'POST',
        at('chat/sendPresence', instance),
        SendPresenceAnswerSchema,
        body,
        body.delay,
      ),
    connectionState: (instance) =>
      call('connectionState', 'GET', at('instance/connectionState', instance), ConnectionStateAnswerSchema),
    fetchInstances: () =>
      call('fetchInstances', 'GET', '/instance/fetchInstances', FetchInstancesAnswerSchema),
    whatsappNumbers: (instance, numbers) =>
      call('whatsappNumbers', 'POST', at('chat/whatsappNumbers', instance), WhatsappNumbersAnswerSchema, {
        numbers,
      }),
  };
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
