/**
 * A fake Kokoro-FastAPI for tests (`POST /v1/audio/speech`, `GET /v1/audio/voices`, `GET /health`):
 *
 * ```ts
 * const sim = await startKokoroSim();                    // voices: DEFAULT_VOICES (ef_dora, em_alex…)
 * const kokoro = createKokoroClient({ baseUrl: sim.url });
 * const { audio, contentType } = await kokoro.speech({ input: 'Hola', voice: 'ef_dora', response_format: 'wav' });
 * sim.speeches[0];                                       // the body Kokoro received
 * sim.fault({ type: 'error', message: 'CUDA out of memory' }); // next speech: 500, Kokoro's shape
 * await sim.close();
 * ```
 */
export { encode, SAMPLE_RATE, tone, wav } from './audio.ts';
export {
  DEFAULT_VOICES,
  startKokoroSim,
  type KokoroFault,
  type KokoroSim,
  type KokoroSimOptions,
} from './sim.ts';
