export {
  createKokoroClient,
  DEFAULT_KOKORO_TIMEOUT_MS,
  type KokoroClient,
  type KokoroClientOptions,
  type Speech,
} from './client.ts';
export { toAiVoices } from './voices.ts';
