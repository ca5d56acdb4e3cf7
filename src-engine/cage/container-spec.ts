import type Docker from 'dockerode';
import type { CageOptions } from '../contracts/cage.ts';

/** Every cage container carries these labels; the reaper finds leftovers by them. */
export const LABEL_CAGE = 'agencia.cage';
export const LABEL_RUN = 'agencia.run';
export const LABEL_ENGINE = 'agencia.engine';

/** The image's user too (cage/Dockerfile): set again here so no image can run a cage as root. */
export const CAGE_UID = 10001;
export const WORKSPACE = '/workspace';

const MIB = 1024 * 1024;

// dockerode's types predate `CgroupnsMode` (Docker API 1.41).
type HostConfig = Docker.HostConfig & { CgroupnsMode?: 'private' | 'host' };

/**
 * The hardened container for one run. Each setting is checked from inside a real cage by
 * test/cage/escape.test.ts. Why each one:
 * - no network at all: the model is reached through the engine over stdio;
 * - memory with swap equal (no swap), a CPU quota and a pids limit: no exhausting the host;
 * - read-only root, with size-capped tmpfs for the workspace and /tmp (their pages count
 *   against the memory limit too); only the workspace allows exec, for scripts the agent writes;
 * - no capabilities, no-new-privileges (setuid binaries of the base image gain nothing), a fixed
 *   non-root uid, an init as pid 1 that reaps zombies and forwards the kill; private IPC and
 *   cgroup namespaces;
 * - no binds, mounts or devices, so no Docker socket and no host file; no log driver, so a
 *   flooding runner cannot fill the host's disk (the engine reads stdio through attach);
 * - explicit removal by the engine (no AutoRemove, which races with reading the exit state).
 */
export function cageContainerSpec(
  options: CageOptions,
  run: { runId: string; runtime?: string },
): Docker.ContainerCreateOptions {
  const memory = options.memoryMb * MIB;
  const hostConfig: HostConfig = {
    NetworkMode: 'none',
    Memory: memory,
    MemorySwap: memory,
    NanoCpus: Math.round(options.cpus * 1e9),
    PidsLimit: options.pidsLimit,
    ReadonlyRootfs: true,
    Tmpfs: {
      [WORKSPACE]: `rw,exec,nosuid,nodev,size=${options.workspaceMb}m,uid=${CAGE_UID},gid=${CAGE_UID},mode=0700`,
      '/tmp': `rw,noexec,nosuid,nodev,size=${options.tmpMb}m,mode=1777`,
    },
    ShmSize: 8 * MIB,
    IpcMode: 'private',
    CgroupnsMode: 'private',
    // Under host memory pressure the kernel kills a cage before the desktop or the engine.
    OomScoreAdj: 500,
    CapDrop: ['ALL'],
    CapAdd: [],
    SecurityOpt: ['no-new-privileges'],
    Privileged: false,
    Init: true,
    Binds: [],
    Mounts: [],
    Devices: [],
    PublishAllPorts: false,
    Ulimits: [
      { Name: 'nofile', Soft: 1024, Hard: 1024 },
      { Name: 'core', Soft: 0, Hard: 0 },
    ],
    LogConfig: { Type: 'none', Config: {} },
    RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
    AutoRemove: false,
    ...(run.runtime ? { Runtime: run.runtime } : {}),
  };
  return {
    Image: options.image,
    Labels: { [LABEL_CAGE]: '1', [LABEL_RUN]: run.runId, [LABEL_ENGINE]: options.engineId },
    User: `${CAGE_UID}:${CAGE_UID}`,
    WorkingDir: WORKSPACE,
    Hostname: 'cage',
    Env: [],
    Tty: false,
    OpenStdin: true,
    StdinOnce: true,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    NetworkDisabled: true,
    HostConfig: hostConfig,
  };
}
