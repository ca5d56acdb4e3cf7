import type { JobEvent } from '../contracts/events.ts';
import type { Sqlite } from '../db/connection.ts';

/**
 * The org a guarded job belongs to, from the row the guard wrote with it (the job id is the message
 * or run id). Job events carry no org, and an org's event stream must not show another's jobs.
 */
export function jobOrgResolver(sqlite: Sqlite): (event: JobEvent) => string | undefined {
  const byQueue: Record<string, ReturnType<Sqlite['prepare']>> = {
    'whatsapp.send': sqlite.prepare(`SELECT org_id FROM sent_messages WHERE id = ?`),
    'agent.run': sqlite.prepare(`SELECT org_id FROM agent_runs WHERE id = ?`),
  };
  return (event) => {
    const row = byQueue[event.queue]?.get(event.jobId) as { org_id: string } | undefined;
    return row?.org_id;
  };
}
