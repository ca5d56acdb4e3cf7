import type { DeadLetter } from '../../../src-engine/contracts/queue.ts';
import type { Dictionary } from './es.ts';

/**
 * Why a job failed for good, in the user's language: by the dead letter's `errorCode` (a service
 * call's kind, or an engine error code); undefined when it has none we have words for (the UI then
 * shows the engine's own text).
 */
export function deadLetterErrorText(t: Dictionary, d: Pick<DeadLetter, 'errorCode'>): string | undefined {
  const code = d.errorCode;
  if (code === undefined) return undefined;
  const said = t.deadLetters.reasons[code];
  if (said !== undefined) return said;
  // An engine error code (INSUFFICIENT_CREDITS, ...): the sentence the UI uses for it elsewhere.
  const general: unknown = /^[A-Z_]+$/.test(code) ? (t.errors as Record<string, unknown>)[code] : undefined;
  return typeof general === 'string' ? general : undefined;
}
