import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KOKORO_AUDIO_FORMATS, KOKORO_CONTENT_TYPES, type KokoroAudioFormat } from '../../contracts/ai.ts';
import { startKokoroSim, type KokoroSim } from '../../../test/sim/kokoro/index.ts';
import { AiServiceError } from '../ollama/index.ts';
import { createKokoroClient, toAiVoices, type KokoroClient } from './index.ts';
import { rejectionOf } from '../../../test/support/rejection.ts';

const SIGNATURES: Record<KokoroAudioFormat, string | undefined> = {
  mp3: 'ID3',
  opus: 'OggS',
  aac: '\xff\xf1',
  flac: 'fLaC',
  wav: 'RIFF',
  pcm: undefined,
};

const failure = (promise: Promise<unknown>) => rejectionOf(promise, AiServiceError);

describe('Kokoro client against the simulator', () => {
  let sim: KokoroSim;
  let kokoro: KokoroClient;

  beforeEach(async () => {
    sim = await startKokoroSim();
    kokoro = createKokoroClient({ baseUrl: sim.url, timeoutMs: 2_000 });
  });
  afterEach(() => sim.close());

  it('gets a playable WAV: RIFF header for 24 kHz mono 16-bit, data size matching the file', async () => {
    const { audio, contentType } = await kokoro.speech({
      input: 'Hola, tu pedido está listo.',
      voice: 'ef_dora',
      response_format: 'wav',
    });

    expect(contentType).toBe('audio/wav');
    expect(audio.toString('ascii', 0, 4)).toBe('RIFF');
    expect(audio.toString('ascii', 8, 12)).toBe('WAVE');
    expect(audio.readUInt32LE(4)).toBe(audio.length - 8);
    expect(audio.readUInt16LE(20)).toBe(1); // PCM
    expect(audio.readUInt16LE(22)).toBe(1); // mono
    expect(audio.readUInt32LE(24)).toBe(24_000);
    expect(audio.readUInt16LE(34)).toBe(16);
    expect(audio.readUInt32LE(40)).toBe(audio.length - 44);
    expect(sim.speeches).toEqual([
      {
        model: 'kokoro',
        input: 'Hola, tu pedido está listo.',
        voice: 'ef_dora',
        response_format: 'wav',
        speed: 1,
        stream: false,
      },
    ]);
  });

  it.each(KOKORO_AUDIO_FORMATS)('answers %s with its content type and signature', async (format) => {
    const { audio, contentType } = await kokoro.speech({
      input: 'Hello',
      voice: 'af_heart',
      response_format: format,
    });
    expect(contentType).toBe(KOKORO_CONTENT_TYPES[format]);
    const signature = SIGNATURES[format];
    if (signature)
      expect(audio.subarray(0, signature.length).equals(Buffer.from(signature, 'latin1'))).toBe(true);
    else expect(audio.length % 2).toBe(0); // raw 16-bit samples
  });

  it('gathers a streamed answer into the same file, and longer text or slower speech gives more audio', async () => {
    const req = { input: 'one two three four', voice: 'am_adam', response_format: 'pcm' as const };
    const whole = await kokoro.speech(req);
    const streamed = await kokoro.speech({ ...req, stream: true });
    const longer = await kokoro.speech({ ...req, input: `${req.input} five six seven eight` });
    const slower = await kokoro.speech({ ...req, speed: 0.5 });

    expect(streamed.audio.equals(whole.audio)).toBe(true);
    expect(longer.audio.length).toBeGreaterThan(whole.audio.length);
    expect(slower.audio.length).toBeGreaterThan(whole.audio.length);
  });

  it('lists voice ids and describes them for the UI', async () => {
    const ids = await kokoro.voices();
    expect(ids).toContain('ef_dora');
    expect(toAiVoices(['em_santa', 'ef_dora', 'custom'])).toEqual([
      { id: 'custom', name: 'custom', language: null, gender: null },
      { id: 'ef_dora', name: 'Dora', language: 'es', gender: 'female' },
      { id: 'em_santa', name: 'Santa', language: 'es', gender: 'male' },
    ]);
  });

  it('reads the older voice list of bare strings too', async () => {
    const legacy = await startKokoroSim({ voices: ['af_heart', 'ef_dora'], legacyVoices: true });
    try {
      expect(await createKokoroClient({ baseUrl: legacy.url }).voices()).toEqual(['af_heart', 'ef_dora']);
    } finally {
      await legacy.close();
    }
  });

  it('turns an unknown voice into invalid_request with the voices Kokoro has', async () => {
    const err = await failure(kokoro.speech({ input: 'Hola', voice: 'ef_nadie' }));
    expect(err.kind).toBe('invalid_request');
    expect(err.httpStatus).toBe(400);
    expect(err.code).toBe('VALIDATION_ERROR');
    expect(err.message).toContain("Voice 'ef_nadie' not found. Available voices: af_bella");
  });

  it("explains FastAPI's 422 validation errors field by field", async () => {
    const format = await failure(
      kokoro.speech({ input: 'Hi', voice: 'af_heart', response_format: 'ogg' as 'mp3' }),
    );
    const speed = await failure(kokoro.speech({ input: 'Hi', voice: 'af_heart', speed: 9 }));
    expect([format.httpStatus, speed.httpStatus]).toEqual([422, 422]);
    expect(format.message).toBe(
      "Kokoro refused the request: response_format: Input should be 'mp3', 'opus', 'aac', 'flac', 'wav' or 'pcm'",
    );
    expect(speed.message).toBe('Kokoro refused the request: speed: Input should be less than or equal to 4');
  });

  it('reports an unsupported model as model_not_found', async () => {
    const err = await failure(kokoro.speech({ model: 'tts-9', input: 'Hi', voice: 'af_heart' }));
    expect(err.kind).toBe('model_not_found');
    expect(err.message).toContain('Unsupported model: tts-9');
  });

  it('reports a processing failure as a server error with what Kokoro said', async () => {
    sim.fault({ type: 'error', message: 'CUDA out of memory' });
    const err = await failure(kokoro.speech({ input: 'Hi', voice: 'af_heart' }));
    expect(err.kind).toBe('server');
    expect(err.httpStatus).toBe(500);
    expect(err.message).toContain('CUDA out of memory');
  });

  it('times out on a Kokoro that never answers, and stops on the caller’s abort', async () => {
    sim.fault({ type: 'hang' });
    sim.fault({ type: 'hang' });
    const quick = createKokoroClient({ baseUrl: sim.url, timeoutMs: 150 });
    expect((await failure(quick.speech({ input: 'Hi', voice: 'af_heart' }))).kind).toBe('timeout');

    const cancel = new AbortController();
    setTimeout(() => cancel.abort(), 50);
    expect(
      (await failure(kokoro.speech({ input: 'Hi', voice: 'af_heart' }, { signal: cancel.signal }))).kind,
    ).toBe('aborted');
  });

  it('reports health, and an unhealthy Kokoro as a server error with its reason', async () => {
    expect(await kokoro.health()).toEqual({ status: 'healthy' });
    sim.setHealthy(false);
    const err = await failure(kokoro.health());
    expect(err.kind).toBe('server');
    expect(err.httpStatus).toBe(503);
    expect(err.message).toContain('espeak error detected during operation');
  });
});
