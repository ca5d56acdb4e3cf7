import type { AddResult, DeadLetter } from '../contracts/queue.ts';
import { normalizeAdd, type NormalizedAdd } from './validate.ts';

/**
 * A dead letter's payload sent again as a new job, once per intent: while the job of its last retry has
 * not finished, that job is the answer (`deduplicated`), so a double click or a client's retry of the
 * request makes no second job; the new job's id names the dead letter and its retry count, so two
 * retries at once make one job too. Once that job finished (done, or failed to a dead letter of its
 * own), a retry makes a new one.
 */
export async function retryDeadLetter(
  dead: DeadLetter,
  backend: {
    unfinished(queue: string, jobId: string): Promise<boolean>;
    add(job: NormalizedAdd): Promise<AddResult>;
    recordRetry(deadLetterId: string, jobId: string): Promise<void>;
  },
): Promise<AddResult> {
  const last = dead.retriedAs.at(-1);
  if (last !== undefined && (await backend.unfinished(dead.queue, last))) {
    return { id: last, queue: dead.queue, deduplicated: true };
  }
  const jobId = `dlq.${dead.id}.${dead.retriedAs.length}`;
  const result = await backend.add(normalizeAdd(dead.queue, dead.payload, { jobId }));
  if (!result.deduplicated) await backend.recordRetry(dead.id, result.id);
  return result;
}
