import type { EngineEvent } from '../contracts/events.ts';
import type { EventBus } from '../events.ts';
import type { Logger } from '../logger.ts';
import type { Compliance } from './alerts.ts';

/** Events after which an org's quota or credit alerts may be due. */
const movesCreditOrQuota = (e: EngineEvent): e is EngineEvent & { orgId: string } =>
  // Credit: a posting, a hold, a capture or release, a correction from the hosted ledger. The plan's
  // counters: a message or an agent run settled (with no ledger event when the quota covered it).
  e.type.startsWith('ledger.') || e.type === 'message.status' || e.type === 'agent.status';

/**
 * Checks an org's quota and low-credit alerts after whatever moved its credit or its counters — a
 * send, an agent run, a sync, a top-up —, once per org and turn of the event loop, off the path of the
 * command that moved them. Returns the function that stops it, which first runs the checks still
 * due: at shutdown they must run before the database closes.
 */
export function watchCompliance(deps: {
  events: Pick<EventBus<EngineEvent>, 'on'>;
  compliance: Pick<Compliance, 'checkOrg'>;
  log: Logger;
}): () => void {
  const due = new Set<string>();
  let pending: NodeJS.Immediate | undefined;
  const check = () => {
    pending = undefined;
    const orgs = [...due];
    due.clear();
    for (const orgId of orgs) {
      try {
        deps.compliance.checkOrg(orgId);
      } catch (err) {
        deps.log.warn({ err, orgId }, 'compliance check failed');
      }
    }
  };
  const off = deps.events.on((e) => {
    if (!movesCreditOrQuota(e)) return;
    due.add(e.orgId);
    pending ??= setImmediate(check);
  });
  return () => {
    off();
    if (pending) clearImmediate(pending);
    check();
  };
}
