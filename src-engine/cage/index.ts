export { createCageEngine, type CageEngine, type CageEngineDeps } from './cage-engine.ts';
export { createDockerClient } from './docker-client.ts';
export { cageContainerSpec, CAGE_UID, LABEL_CAGE, LABEL_ENGINE, LABEL_RUN } from './container-spec.ts';
export type { CageLogHandler } from './log-sink.ts';
export type { ReapedCage } from './reaper.ts';
export type { CageRunCall } from './session.ts';
