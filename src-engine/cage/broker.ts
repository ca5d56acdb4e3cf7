import {
  MAX_TOOL_CALLS,
  type CageChatMessage,
  type CageFailure,
  type CageLlmRequest,
  type CageUsage,
} from '../contracts/cage.ts';
import { AiServiceError, type OllamaClient } from '../gateways/ollama/index.ts';

/** A model call that ends the run: `failure` says why, `message` is for the user. */
export class BrokerError extends Error {
  override readonly name = 'BrokerError';
  constructor(
    readonly failure: Extract<CageFailure, 'llm_error' | 'token_budget'>,
    message: string,
  ) {
    super(message);
  }
}

export interface BrokerTurn {
  message: CageChatMessage & { role: 'assistant' };
  usage: CageUsage;
}

/**
 * One run's access to the model: the cage never reaches Ollama itself. The engine picks the
 * model, counts the tokens and stops the run when its budget is spent, mid-stream if need be
 * (Ollama streams about one token per chunk; its final counts settle the bill).
 */
export class RunBroker {
  tokensIn = 0;
  tokensOut = 0;

  constructor(
    private readonly ollama: OllamaClient,
    private readonly model: string,
    private readonly budget: number | undefined,
    /** The model's text as it streams, one line at a time. */
    private readonly onLine: (line: string) => void,
  ) {}

  get spent(): number {
    return this.tokensIn + this.tokensOut;
  }

  async complete(req: CageLlmRequest, signal: AbortSignal): Promise<BrokerTurn> {
    if (this.budget !== undefined && this.spent >= this.budget) throw this.overBudget();
    let streamed = 0;
    let counted = false;
    let partial = '';
    const emitLines = (): void => {
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) this.onLine(line);
    };
    try {
      const answer = await this.ollama.chat(
        {
          model: this.model,
          messages: req.messages,
          ...(req.tools.length ? { tools: req.tools } : {}),
          stream: true,
        },
        {
          signal,
          onChunk: (chunk) => {
            if (chunk.done) return;
            streamed += 1;
            partial += chunk.message.content;
            emitLines();
            if (this.budget !== undefined && this.spent + streamed > this.budget) throw this.overBudget();
          },
        },
      );
      this.tokensIn += answer.promptEvalCount;
      this.tokensOut += answer.evalCount || streamed;
      counted = true;
      if (this.budget !== undefined && this.spent > this.budget) throw this.overBudget();
      const calls = answer.message.tool_calls ?? [];
      if (calls.length > MAX_TOOL_CALLS) {
        throw new BrokerError(
          'llm_error',
          `the model asked for ${calls.length} tool calls at once (at most ${MAX_TOOL_CALLS})`,
        );
      }
      return {
        message: {
          role: 'assistant',
          content: answer.message.content,
          ...(calls.length
            ? {
                tool_calls: calls.map((c) => ({
                  ...(c.id ? { id: c.id } : {}),
                  function: { name: c.function.name, arguments: c.function.arguments },
                })),
              }
            : {}),
        },
        usage: { promptTokens: answer.promptEvalCount, completionTokens: answer.evalCount || streamed },
      };
    } catch (err) {
      // Tokens streamed before a stop mid-answer (budget, cancel, timeout) were spent all the same.
      if (!counted) this.tokensOut += streamed;
      if (err instanceof AiServiceError && err.kind !== 'aborted')
        throw new BrokerError('llm_error', err.message);
      throw err;
    } finally {
      if (partial) this.onLine(partial);
    }
  }

  private overBudget(): BrokerError {
    return new BrokerError('token_budget', `the run's token budget (${this.budget} tokens) is spent`);
  }
}
