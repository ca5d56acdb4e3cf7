export {
  createOllamaClient,
  DEFAULT_OLLAMA_TIMEOUT_MS,
  type ChatCallOptions,
  type ChatResult,
  type OllamaClient,
  type OllamaClientOptions,
} from './client.ts';
export { toAiModels } from './models.ts';
export { AiServiceError, type AiErrorKind, type AiService } from './service-call.ts';
