import type Docker from 'dockerode';
import { LABEL_CAGE, LABEL_ENGINE, LABEL_RUN } from './container-spec.ts';
import { isGone } from './docker-calls.ts';

export interface ReapedCage {
  /** The run the container belonged to: the caller marks it failed and releases its reservation. */
  runId: string | null;
  containerId: string;
  /** Docker's state when found: `running`, `exited`, `created`… */
  state: string;
}

/**
 * Removes this engine's cage containers that no live run owns: leftovers of a crashed or killed
 * engine. Only containers labelled with this engine's id, so engines sharing a Docker host never
 * reap each other's runs.
 */
export async function reapCages(
  docker: Docker,
  engineId: string,
  live: ReadonlySet<string>,
): Promise<ReapedCage[]> {
  const found = await docker.listContainers({
    all: true,
    filters: { label: [`${LABEL_CAGE}=1`, `${LABEL_ENGINE}=${engineId}`] },
  });
  const reaped: ReapedCage[] = [];
  for (const c of found) {
    const runId = c.Labels[LABEL_RUN] ?? null;
    if (runId !== null && live.has(runId)) continue;
    try {
      await docker.getContainer(c.Id).remove({ force: true, v: true });
    } catch (err) {
      if (!isGone(err)) throw err;
    }
    reaped.push({ runId, containerId: c.Id, state: c.State });
  }
  return reaped;
}
