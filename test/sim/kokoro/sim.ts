import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  KOKORO_AUDIO_FORMATS,
  KOKORO_CONTENT_TYPES,
  KOKORO_MODELS,
  type KokoroAudioFormat,
} from '../../../src-engine/contracts/ai.ts';
import { encode, tone } from './audio.ts';

/** A few of Kokoro v1's voices, Spanish ones included. */
export const DEFAULT_VOICES = [
  'af_heart',
  'af_bella',
  'am_adam',
  'bf_emma',
  'ef_dora',
  'em_alex',
  'em_santa',
];

/** What the next `POST /v1/audio/speech` does instead of speaking. */
export type KokoroFault =
  /** Kokoro's processing error: 500 `{detail: {error: "processing_error", message, type: "server_error"}}`. */
  | { type: 'error'; message: string }
  /** Never answers; the connection stays open until the client leaves. */
  | { type: 'hang' };

export interface KokoroSimOptions {
  voices?: string[];
  /** Answer `/v1/audio/voices` with bare strings, as Kokoro did before 0.3 (and does with `?legacy=true`). */
  legacyVoices?: boolean;
}

export interface KokoroSim {
  url: string;
  /** Every `POST /v1/audio/speech` body received, in order (invalid ones too). */
  readonly speeches: unknown[];
  fault(fault: KokoroFault): void;
  /** An unhealthy Kokoro answers `/health` with 503 `{status: "unhealthy", reason}`. */
  setHealthy(healthy: boolean): void;
  close(): Promise<void>;
}

/**
 * A fake Kokoro-FastAPI on 127.0.0.1 (a free port): `POST /v1/audio/speech` answers a real WAV
 * (RIFF header, 24 kHz mono 16-bit tone, longer for longer text) or raw PCM, or bytes with the right
 * signature for mp3/opus/aac/flac, with Kokoro's content types, streamed in chunks unless
 * `stream: false`. Its errors are Kokoro's: 400 `{detail: {error, message, type}}` for an unknown
 * model or voice, FastAPI's 422 `{detail: [{type, loc, msg, input}]}` for an invalid body.
 */
export async function startKokoroSim(opts: KokoroSimOptions = {}): Promise<KokoroSim> {
  const voices = opts.voices ?? DEFAULT_VOICES;
  const speeches: unknown[] = [];
  const faults: KokoroFault[] = [];
  let healthy = true;

  const server = createServer((req, res) => {
    void handle(req, res).catch(() => res.destroy());
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://sim');
    const route = `${req.method} ${url.pathname}`;
    if (route === 'GET /health') {
      return healthy
        ? json(res, 200, { status: 'healthy' })
        : json(res, 503, { status: 'unhealthy', reason: 'espeak error detected during operation' });
    }
    if (route === 'GET /v1/audio/voices') {
      const legacy = opts.legacyVoices === true || url.searchParams.get('legacy') === 'true';
      return json(res, 200, { voices: legacy ? voices : voices.map((v) => ({ id: v, name: v })) });
    }
    if (route === 'POST /v1/audio/speech') return speech(raw, res);
    return json(res, 404, { detail: 'Not Found' });
  }

  async function speech(raw: string, res: ServerResponse): Promise<void> {
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      return json(res, 422, {
        detail: [
          {
            type: 'json_invalid',
            loc: ['body', 0],
            msg: 'JSON decode error',
            input: {},
            ctx: { error: 'Expecting value' },
          },
        ],
      });
    }
    speeches.push(body);
    const fields = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    const issues = validate(fields);
    if (issues.length > 0) return json(res, 422, { detail: issues });
    const model = (fields.model as string | undefined) ?? 'kokoro';
    if (!(KOKORO_MODELS as readonly string[]).includes(model)) {
      return json(res, 400, {
        detail: {
          error: 'invalid_model',
          message: `Unsupported model: ${model}`,
          type: 'invalid_request_error',
        },
      });
    }
    const voice = (fields.voice as string | undefined) ?? 'af_heart';
    const unknown = voice
      .replace(/\s/g, '')
      .split(/[+-]/)
      .map((v) => v.replace(/\(.*\)$/, ''))
      .find((v) => !voices.includes(v));
    if (unknown !== undefined) {
      return json(res, 400, {
        detail: {
          error: 'validation_error',
          message: `Voice '${unknown}' not found. Available voices: ${[...voices].sort().join(', ')}`,
          type: 'invalid_request_error',
        },
      });
    }
    const fault = faults.shift();
    if (fault?.type === 'hang') return;
    if (fault?.type === 'error') {
      return json(res, 500, {
        detail: { error: 'processing_error', message: fault.message, type: 'server_error' },
      });
    }
    const format = (fields.response_format as KokoroAudioFormat | undefined) ?? 'mp3';
    const speed = (fields.speed as number | undefined) ?? 1;
    const words = String(fields.input).split(/\s+/).filter(Boolean).length;
    const audio = encode(format, tone(Math.min(3, (0.1 + words * 0.3) / speed)));
    const headers = {
      'content-type': KOKORO_CONTENT_TYPES[format],
      'content-disposition': `attachment; filename=speech.${format}`,
      'cache-control': 'no-cache',
    };
    if (fields.stream === false) {
      res.writeHead(200, { ...headers, 'content-length': audio.length });
      res.end(audio);
      return;
    }
    // Kokoro's default: chunked, a piece per sentence; here the file in a few pieces.
    res.writeHead(200, headers);
    const piece = Math.ceil(audio.length / 3);
    for (let at = 0; at < audio.length && !res.destroyed; at += piece)
      res.write(audio.subarray(at, at + piece));
    res.end();
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    speeches,
    fault: (f) => void faults.push(f),
    setHealthy: (h) => void (healthy = h),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Pydantic's checks of `OpenAISpeechRequest`, with its error types and messages. */
function validate(fields: Record<string, unknown>): unknown[] {
  const issues: unknown[] = [];
  if (typeof fields.input !== 'string') {
    issues.push(
      fields.input === undefined
        ? { type: 'missing', loc: ['body', 'input'], msg: 'Field required', input: fields }
        : {
            type: 'string_type',
            loc: ['body', 'input'],
            msg: 'Input should be a valid string',
            input: fields.input,
          },
    );
  }
  const format = fields.response_format;
  if (format !== undefined && !(KOKORO_AUDIO_FORMATS as readonly unknown[]).includes(format)) {
    const expected = KOKORO_AUDIO_FORMATS.map((f) => `'${f}'`);
    const list = `${expected.slice(0, -1).join(', ')} or ${expected.at(-1)}`;
    issues.push({
      type: 'literal_error',
      loc: ['body', 'response_format'],
      msg: `Input should be ${list}`,
      input: format,
      ctx: { expected: list },
    });
  }
  const speed = fields.speed;
  if (speed !== undefined) {
    if (typeof speed !== 'number') {
      issues.push({
        type: 'float_type',
        loc: ['body', 'speed'],
        msg: 'Input should be a valid number',
        input: speed,
      });
    } else if (speed < 0.25) {
      issues.push({
        type: 'greater_than_equal',
        loc: ['body', 'speed'],
        msg: 'Input should be greater than or equal to 0.25',
        input: speed,
        ctx: { ge: 0.25 },
      });
    } else if (speed > 4) {
      issues.push({
        type: 'less_than_equal',
        loc: ['body', 'speed'],
        msg: 'Input should be less than or equal to 4',
        input: speed,
        ctx: { le: 4 },
      });
    }
  }
  return issues;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
