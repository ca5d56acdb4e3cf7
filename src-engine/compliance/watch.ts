import { movesCreditOrQuota, type EngineEvent } from '../contracts/events.ts';
import type { EventBus } from '../events.ts';
import type { Logger } from '../logger.ts';
import type { Compliance } from './alerts.ts';

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
