import { RunAgentSchema, type RunAccepted } from '../../contracts/agents.ts';
import type { Sqlite } from '../../db/connection.ts';
import type { Charges } from '../../ledger/charges.ts';
import type { Command } from '../pipeline.ts';
import { uuidv7 } from '../../ids.ts';

/** An agent run's hold outlives its longest wait in the queue plus its own timeout. */
export const holdTtlMs = (timeoutS: number) => timeoutS * 1000 + 6 * 3_600_000;

export function runAgentCommand(deps: {
  sqlite: Sqlite;
  charges: Charges;
  now?: () => number;
  newId?: () => string;
}): Command<typeof RunAgentSchema, RunAccepted> {
  const now = deps.now ?? Date.now;
  const newId = deps.newId ?? uuidv7;
  const insert = deps.sqlite.prepare(
    `INSERT INTO agent_runs (id, org_id, status, prompt, model, max_steps, timeout_s, reservation_id, job_id,
                             free, cycle, created_at)
     VALUES (@id, @orgId, 'queued', @prompt, @model, @maxSteps, @timeoutS, @reservationId, @id, @free, @cycle, @at)`,
  );
  return {
    name: 'agents:run',
    schema: RunAgentSchema,
    execute({ orgId }, input) {
      const id = newId();
      const admission = deps.charges.admit(orgId, 'ai_run', {
        reference: `agent-run:${id}`,
        jobId: id,
        ttlMs: holdTtlMs(input.timeoutS),
      });
      insert.run({
        id,
        orgId,
        prompt: input.prompt,
        model: input.model ?? null,
        maxSteps: input.maxSteps,
        timeoutS: input.timeoutS,
        reservationId: admission.reservationId,
        free: admission.free ? 1 : 0,
        cycle: admission.cycle,
        at: now(),
      });
      return {
        output: { runId: id },
        // One attempt: a run that failed half-way is not silently redone (and charged) again.
        job: { queue: 'agent.run', jobId: id, data: { orgId, runId: id }, opts: { attempts: 1 } },
      };
    },
  };
}
