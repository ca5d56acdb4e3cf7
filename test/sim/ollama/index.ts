/**
 * A fake Ollama for tests: a real HTTP server on 127.0.0.1 speaking Ollama's native API
 * (`POST /api/chat` streaming NDJSON or `stream: false`, `GET /api/tags`, `/api/ps`, `/api/version`).
 *
 * ```ts
 * import { startOllamaSim } from '../../test/sim/ollama/index.ts';
 * import { createOllamaClient } from '../../src-engine/gateways/ollama/index.ts';
 *
 * const sim = await startOllamaSim();                       // models: llama3.2:latest, qwen2.5:7b
 * sim.script('llama3.2',
 *   { type: 'tool_call', name: 'shell', arguments: { command: 'ls' } },
 *   { type: 'text', text: 'All done.' },                    // one chunk per word
 * );
 * const ollama = createOllamaClient({ baseUrl: sim.url, timeoutMs: 2000 });
 * const first = await ollama.chat({ model: 'llama3.2', messages, tools }, { signal, onChunk });
 * first.message.tool_calls;   // [{ function: { index: 0, name: 'shell', arguments: { command: 'ls' } } }]
 * first.promptEvalCount;      // ~ prompt characters / 4;  first.evalCount = chunks sent
 * sim.chats[0].tools;         // what the model was offered
 * await sim.close();
 * ```
 *
 * Replies are queued per model and used one per chat request:
 * - `{type: 'text', text, delayMs?, doneReason?, splitLines?}`: streamed word by word; `splitLines`
 *   writes each NDJSON line in two pieces cut mid-line (tests the client's line reassembly);
 * - `{type: 'tool_call', name, arguments, text?}`: one chunk with `message.tool_calls`;
 * - `{type: 'stream_error', error, text?}`: `text`, then an `{"error": ...}` line, no final chunk
 *   (with `stream: false`: HTTP 500 `{"error": ...}`);
 * - `{type: 'http_error', status, error}`: that status with `{"error": ...}` at once;
 * - `{type: 'hang', text?}`: `text`, then silence with the connection left open (client timeouts).
 *
 * With an empty queue the answer is `echo: <last user message>` as text (`fallback` option to change
 * it, e.g. to a `finish` tool call). A model that is not installed gets Ollama's real 404
 * `{"error": "model \"x\" not found, try pulling it first"}`. The final chunk carries
 * `done_reason: "stop"`, durations in ns, `prompt_eval_count` = ceil(prompt characters / 4) (tools
 * included) and `eval_count` = the number of chunks sent. `sim.abandoned` counts answers the client
 * left before their end.
 */
export {
  echoReply,
  modelKey,
  promptTokens,
  startOllamaSim,
  tokens,
  type OllamaSim,
  type OllamaSimOptions,
  type RecordedRequest,
  type SimModel,
  type SimReply,
} from './sim.ts';
