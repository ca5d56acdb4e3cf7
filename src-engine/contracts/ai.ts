import { z } from 'zod';

// ---------------------------------------------------------------------------------------------
// Ollama wire shapes (ollama/ollama docs/api.md and api/types.go). Responses are loose objects:
// Ollama adds fields between versions and an unknown field must never break a run.
// ---------------------------------------------------------------------------------------------

/** A tool the model may call: a JSON-schema function, as `tools[]` in `POST /api/chat`. */
export const OllamaToolSchema = z.object({
  type: z.literal('function'),
  function: z.object({
    name: z.string().min(1),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()),
  }),
});
export type OllamaTool = z.infer<typeof OllamaToolSchema>;

/** A tool call as Ollama returns it: arguments are an object, not a JSON string (unlike OpenAI). */
export const OllamaToolCallSchema = z.looseObject({
  id: z.string().optional(),
  function: z.looseObject({
    index: z.number().int().optional(),
    name: z.string(),
    arguments: z.record(z.string(), z.unknown()),
  }),
});
export type OllamaToolCall = z.infer<typeof OllamaToolCallSchema>;

export const OllamaRoleSchema = z.enum(['system', 'user', 'assistant', 'tool']);

export const OllamaMessageSchema = z.looseObject({
  role: OllamaRoleSchema,
  content: z.string(),
  thinking: z.string().optional(),
  images: z.array(z.string()).nullish(),
  tool_calls: z.array(OllamaToolCallSchema).optional(),
  /** On a `tool` message: which tool produced this result. */
  tool_name: z.string().optional(),
  tool_call_id: z.string().optional(),
});
export type OllamaMessage = z.infer<typeof OllamaMessageSchema>;

/** `POST /api/chat` body. `stream` defaults to true on the server. */
export const OllamaChatRequestSchema = z.object({
  model: z.string().min(1),
  messages: z.array(OllamaMessageSchema),
  tools: z.array(OllamaToolSchema).optional(),
  stream: z.boolean().optional(),
  format: z.union([z.literal('json'), z.record(z.string(), z.unknown())]).optional(),
  options: z.record(z.string(), z.unknown()).optional(),
  keep_alive: z.union([z.string(), z.number()]).optional(),
  think: z.boolean().optional(),
});
export type OllamaChatRequest = z.infer<typeof OllamaChatRequestSchema>;

/** One streamed chunk before the end: usually one token of content, or a whole tool call. */
export const OllamaChatChunkSchema = z.looseObject({
  model: z.string(),
  created_at: z.string(),
  message: OllamaMessageSchema,
  done: z.literal(false),
});
export type OllamaChatChunk = z.infer<typeof OllamaChatChunkSchema>;

// Go's `omitempty` drops zero counts and durations, so each one may be missing.
const count = z.number().int().nonnegative().optional();

/** The last chunk (or the whole answer when `stream: false`): the statistics of the call. */
export const OllamaChatFinalSchema = z.looseObject({
  model: z.string(),
  created_at: z.string(),
  message: OllamaMessageSchema.optional(),
  done: z.literal(true),
  done_reason: z.string().optional(),
  total_duration: count,
  load_duration: count,
  prompt_eval_count: count,
  prompt_eval_duration: count,
  eval_count: count,
  eval_duration: count,
});
export type OllamaChatFinal = z.infer<typeof OllamaChatFinalSchema>;

export const OllamaChatResponseSchema = z.discriminatedUnion('done', [
  OllamaChatChunkSchema,
  OllamaChatFinalSchema,
]);
export type OllamaChatResponse = z.infer<typeof OllamaChatResponseSchema>;

/** Every Ollama error body, as an HTTP answer or as one line in the middle of a stream. */
export const OllamaErrorSchema = z.object({ error: z.string() });

export const OllamaModelDetailsSchema = z.looseObject({
  parent_model: z.string().optional(),
  format: z.string().optional(),
  family: z.string().optional(),
  families: z.array(z.string()).nullish(),
  parameter_size: z.string().optional(),
  quantization_level: z.string().optional(),
});

/** One entry of `GET /api/tags`: an installed model. */
export const OllamaModelSchema = z.looseObject({
  name: z.string(),
  model: z.string().optional(),
  modified_at: z.string(),
  size: z.number().nonnegative(),
  digest: z.string(),
  details: OllamaModelDetailsSchema.optional(),
});
export type OllamaModel = z.infer<typeof OllamaModelSchema>;

export const OllamaTagsSchema = z.object({ models: z.array(OllamaModelSchema) });
export type OllamaTags = z.infer<typeof OllamaTagsSchema>;

/** One entry of `GET /api/ps`: a model loaded in memory. */
export const OllamaRunningModelSchema = z.looseObject({
  name: z.string(),
  model: z.string().optional(),
  size: z.number().nonnegative(),
  digest: z.string(),
  details: OllamaModelDetailsSchema.optional(),
  expires_at: z.string(),
  size_vram: z.number().nonnegative(),
});
export type OllamaRunningModel = z.infer<typeof OllamaRunningModelSchema>;

export const OllamaPsSchema = z.object({ models: z.array(OllamaRunningModelSchema) });
export type OllamaPs = z.infer<typeof OllamaPsSchema>;

export const OllamaVersionSchema = z.looseObject({ version: z.string() });
export type OllamaVersion = z.infer<typeof OllamaVersionSchema>;

// ---------------------------------------------------------------------------------------------
// Kokoro-FastAPI wire shapes (remsky/Kokoro-FastAPI api/src/structures/schemas.py, routers).
// ---------------------------------------------------------------------------------------------

export const KOKORO_AUDIO_FORMATS = ['mp3', 'opus', 'aac', 'flac', 'wav', 'pcm'] as const;
export const KokoroAudioFormatSchema = z.enum(KOKORO_AUDIO_FORMATS);
export type KokoroAudioFormat = z.infer<typeof KokoroAudioFormatSchema>;

/** The content type Kokoro answers with for each format (its own table in `create_speech`). */
export const KOKORO_CONTENT_TYPES: Record<KokoroAudioFormat, string> = {
  mp3: 'audio/mpeg',
  opus: 'audio/opus',
  aac: 'audio/aac',
  flac: 'audio/flac',
  wav: 'audio/wav',
  pcm: 'audio/pcm',
};

/** The model names Kokoro accepts (its `openai_mappings.json`); anything else is a 400. */
export const KOKORO_MODELS = ['kokoro', 'tts-1', 'tts-1-hd', 'gpt-4o-mini-tts'] as const;

/** Kokoro's own defaults, except `stream`: it streams unless told not to, and we want one whole file. */
export const KOKORO_SPEECH_DEFAULTS = {
  model: 'kokoro',
  response_format: 'mp3',
  speed: 1,
  stream: false,
} as const;

/** `POST /v1/audio/speech` body (the subset we send; `voice` may combine voices, e.g. `ef_dora+em_alex`). */
export const KokoroSpeechRequestSchema = z.object({
  model: z.string().min(1).default(KOKORO_SPEECH_DEFAULTS.model),
  input: z.string().min(1),
  voice: z.string().min(1),
  response_format: KokoroAudioFormatSchema.default(KOKORO_SPEECH_DEFAULTS.response_format),
  speed: z.number().min(0.25).max(4).default(KOKORO_SPEECH_DEFAULTS.speed),
  stream: z.boolean().default(KOKORO_SPEECH_DEFAULTS.stream),
  lang_code: z.string().optional(),
});
export type KokoroSpeechRequest = z.input<typeof KokoroSpeechRequestSchema>;

/** A voice in `GET /v1/audio/voices`: `{id, name}` since 0.3, a bare string before (and with `?legacy=true`). */
export const KokoroVoiceEntrySchema = z.union([
  z.string(),
  z.looseObject({ id: z.string(), name: z.string() }),
]);
export const KokoroVoicesSchema = z.object({ voices: z.array(KokoroVoiceEntrySchema) });
export type KokoroVoices = z.infer<typeof KokoroVoicesSchema>;

/** `GET /health`: 200 `{status: "healthy", message?}` or 503 `{status: "unhealthy", reason}`. */
export const KokoroHealthSchema = z.looseObject({
  status: z.string(),
  message: z.string().optional(),
  reason: z.string().optional(),
});
export type KokoroHealth = z.infer<typeof KokoroHealthSchema>;

/** What Kokoro's own handlers raise: `HTTPException(detail={error, message, type})`. */
export const KokoroErrorDetailSchema = z.looseObject({
  error: z.string(),
  message: z.string(),
  type: z.string().optional(),
});
/** What FastAPI's request validation answers (422): one entry per invalid field. */
export const FastApiValidationIssueSchema = z.looseObject({
  type: z.string(),
  loc: z.array(z.union([z.string(), z.number()])),
  msg: z.string(),
});
export const KokoroErrorSchema = z.object({
  detail: z.union([KokoroErrorDetailSchema, z.array(FastApiValidationIssueSchema), z.string()]),
});
export type KokoroError = z.infer<typeof KokoroErrorSchema>;

// ---------------------------------------------------------------------------------------------
// Our public DTOs: `GET /api/v1/ai/models` and `GET /api/v1/ai/voices`.
// ---------------------------------------------------------------------------------------------

/** An installed local model, as the UI lists it. */
export const AiModelSchema = z.object({
  /** The name to pass as `model` (e.g. `llama3.2:latest`). */
  name: z.string(),
  family: z.string().nullable(),
  /** As Ollama reports it, e.g. `3.2B`. */
  parameterSize: z.string().nullable(),
  quantization: z.string().nullable(),
  sizeBytes: z.number().nonnegative(),
  modifiedAt: z.string(),
  /** Loaded in memory right now (`/api/ps`): answers without a load delay. */
  loaded: z.boolean(),
});
export type AiModel = z.infer<typeof AiModelSchema>;

export const AiVoiceSchema = z.object({
  /** The value to pass as `voice` (e.g. `ef_dora`). */
  id: z.string(),
  name: z.string(),
  /** Kokoro's language code (first letter of the id: `a` American English, `e` Spanish…), when known. */
  language: z.string().nullable(),
  gender: z.enum(['female', 'male']).nullable(),
});
export type AiVoice = z.infer<typeof AiVoiceSchema>;

export const AiModelListSchema = z.object({ models: z.array(AiModelSchema) });
export const AiVoiceListSchema = z.object({ voices: z.array(AiVoiceSchema) });
