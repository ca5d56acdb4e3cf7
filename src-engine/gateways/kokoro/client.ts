import {
  KOKORO_SPEECH_DEFAULTS,
  KokoroErrorSchema,
  KokoroHealthSchema,
  KokoroVoicesSchema,
  type KokoroError,
  type KokoroHealth,
  type KokoroSpeechRequest,
} from '../../contracts/ai.ts';
import type { Logger } from '../../logger.ts';
import { AiServiceError, ServiceCall, clip, safeJson } from '../ollama/service-call.ts';

export const DEFAULT_KOKORO_TIMEOUT_MS = 60_000;
const MAX_AUDIO_BYTES = 64 << 20;
const MAX_ERROR_BYTES = 64 << 10;

export interface KokoroClientOptions {
  /** e.g. `http://127.0.0.1:8880` (`KOKORO_URL`). */
  baseUrl: string;
  /** Longest silence accepted: until the answer starts and between two chunks of audio. */
  timeoutMs?: number;
  log?: Logger;
}

export interface Speech {
  audio: Buffer;
  /** As Kokoro labels it: `audio/mpeg`, `audio/wav`, `audio/opus`… */
  contentType: string;
}

export interface KokoroClient {
  /** Text to audio (`POST /v1/audio/speech`), the whole file at once. */
  speech(req: KokoroSpeechRequest, opts?: { signal?: AbortSignal }): Promise<Speech>;
  /** Voice ids (`GET /v1/audio/voices`), from either shape Kokoro has used. */
  voices(opts?: { signal?: AbortSignal }): Promise<string[]>;
  /** `GET /health`; an unhealthy Kokoro (503) fails with kind `server` and its reason. */
  health(opts?: { signal?: AbortSignal }): Promise<KokoroHealth>;
}

/** A typed client of Kokoro-FastAPI's OpenAI-compatible speech API. */
export function createKokoroClient(options: KokoroClientOptions): KokoroClient {
  const timeoutMs = options.timeoutMs ?? DEFAULT_KOKORO_TIMEOUT_MS;

  async function exchange<T>(
    signal: AbortSignal | undefined,
    send: (call: ServiceCall) => Promise<Response>,
    read: (call: ServiceCall, res: Response) => Promise<T>,
  ): Promise<T> {
    const call = new ServiceCall({ service: 'kokoro', baseUrl: options.baseUrl, timeoutMs, signal });
    try {
      const res = await send(call);
      if (!res.ok) throw await failure(call, res);
      return await read(call, res);
    } catch (err) {
      const failed = call.classify(err);
      if (failed.kind !== 'aborted')
        options.log?.warn({ kind: failed.kind, httpStatus: failed.httpStatus }, 'kokoro call failed');
      throw failed;
    } finally {
      call.finish();
    }
  }

  return {
    speech: (req, opts = {}) =>
      exchange(
        opts.signal,
        (call) =>
          call.fetch('/v1/audio/speech', {
            method: 'POST',
            body: { ...KOKORO_SPEECH_DEFAULTS, ...req },
            accept: 'audio/*',
          }),
        async (call, res) => {
          const contentType = res.headers.get('content-type') ?? '';
          if (!contentType.startsWith('audio/')) {
            throw call.error(
              'bad_response',
              `Kokoro answered ${contentType || 'something'} instead of audio.`,
            );
          }
          const audio = await call.bytes(res, MAX_AUDIO_BYTES);
          if (audio.length === 0) throw call.error('bad_response', 'Kokoro answered with no audio.');
          return { audio, contentType };
        },
      ),
    voices: (opts = {}) =>
      exchange(
        opts.signal,
        (call) => call.fetch('/v1/audio/voices', { method: 'GET' }),
        async (call, res) => {
          const { voices } = await call.json(res, KokoroVoicesSchema, 'a voice list');
          return voices.map((v) => (typeof v === 'string' ? v : v.id));
        },
      ),
    health: (opts = {}) =>
      exchange(
        opts.signal,
        (call) => call.fetch('/health', { method: 'GET' }),
        (call, res) => call.json(res, KokoroHealthSchema, 'a health answer'),
      ),
  };
}

/**
 * Kokoro's errors: its handlers answer `{detail: {error, message, type}}`, FastAPI's validation a
 * 422 `{detail: [{loc, msg}]}`, the health check a 503 `{status, reason}`.
 */
async function failure(call: ServiceCall, res: Response): Promise<AiServiceError> {
  const body = await call.text(res, MAX_ERROR_BYTES).catch(() => '');
  const json = safeJson(body);
  const parsed = KokoroErrorSchema.safeParse(json);
  const health = KokoroHealthSchema.safeParse(json);
  const said = clip(
    parsed.success
      ? describe(parsed.data.detail)
      : health.success
        ? (health.data.reason ?? health.data.status)
        : body || res.statusText,
  );
  const detail = parsed.success ? parsed.data.detail : undefined;
  const code = detail && !Array.isArray(detail) && typeof detail === 'object' ? detail.error : undefined;
  if (code === 'invalid_model' || code === 'model_not_found') {
    return call.error('model_not_found', `Kokoro does not have this model: ${said}`, res.status);
  }
  if (res.status >= 500)
    return call.error('server', `Kokoro failed (HTTP ${res.status}): ${said}`, res.status);
  return call.error('invalid_request', `Kokoro refused the request: ${said}`, res.status);
}

function describe(detail: KokoroError['detail']): string {
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) {
    // FastAPI's `loc` starts with where the field was (`body`); the rest is the field's path.
    return detail.map((i) => `${i.loc.filter((p) => p !== 'body').join('.')}: ${i.msg}`).join('; ');
  }
  return detail.message;
}
