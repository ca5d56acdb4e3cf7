// Auto-update policy, without Electron: where updates come from, when to look, and asking before
// a restart. electron-updater does the downloading and verifying (sha512 from the manifest, and the
// code signature on Windows/macOS); index.ts adapts it to UpdaterPort.
import type { Logger } from '../src-engine/logger.ts';

export const UPDATE_INTERVAL_MS = 6 * 60 * 60 * 1000;

export interface UpdaterPort {
  /** Looks for an update; with autoDownload on, a newer one downloads in the background. */
  check(): Promise<unknown>;
  onDownloaded(listener: (version: string) => void): void;
  /** Quits and installs the downloaded update. */
  install(): void;
}

export type UpdateSource =
  | { kind: 'off'; reason: string }
  /** The generic-provider URL given at run time (AGENCIA_UPDATE_URL). */
  | { kind: 'feed'; url: string }
  /** dev-app-update.yml: an unpackaged build against a local update server. */
  | { kind: 'dev'; configPath: string }
  /** app-update.yml, written into the package by electron-builder from `publish`. */
  | { kind: 'packaged' };

const LOCAL_HTTP = /^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?(\/|$)/;

/** Where updates come from: HTTPS only, except a loopback server for testing. */
export function updateSource(
  env: Record<string, string | undefined>,
  isPackaged: boolean,
  devConfigPath: string,
): UpdateSource {
  const url = env.AGENCIA_UPDATE_URL?.trim();
  if (url) {
    if (url.startsWith('https://') || LOCAL_HTTP.test(url)) return { kind: 'feed', url };
    return { kind: 'off', reason: 'AGENCIA_UPDATE_URL must be https:// (or a loopback http:// server)' };
  }
  if (isPackaged) return { kind: 'packaged' };
  if (env.AGENCIA_DEV_UPDATES === '1') return { kind: 'dev', configPath: devConfigPath };
  return { kind: 'off', reason: 'development build (set AGENCIA_DEV_UPDATES=1 to use dev-app-update.yml)' };
}

export interface Timers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

const realTimers: Timers = {
  setInterval: (fn, ms) => {
    const h = setInterval(fn, ms);
    h.unref?.();
    return h;
  },
  clearInterval: (h) => clearInterval(h as ReturnType<typeof setInterval>),
};

/**
 * Checks now and every 6 h (one check at a time; a failure waits for the next round), and once an
 * update is downloaded asks the user, once per version, whether to restart now.
 */
export function startUpdates(deps: {
  port: UpdaterPort;
  ask(version: string): Promise<boolean>;
  log: Logger;
  timers?: Timers;
  intervalMs?: number;
}): { check(): Promise<void>; stop(): void } {
  const timers = deps.timers ?? realTimers;
  const asked = new Set<string>();
  let checking: Promise<void> | undefined;

  deps.port.onDownloaded((version) => {
    if (asked.has(version)) return;
    asked.add(version);
    deps.ask(version).then(
      (restart) => {
        deps.log.info({ version, restart }, 'update downloaded');
        if (restart) deps.port.install();
      },
      (err: unknown) => deps.log.warn({ err }, 'could not ask about the update'),
    );
  });

  const check = () => {
    checking ??= deps.port
      .check()
      .then(
        () => undefined,
        (err: unknown) => deps.log.warn({ err }, 'update check failed; next try in the next round'),
      )
      .finally(() => {
        checking = undefined;
      });
    return checking;
  };

  void check();
  const handle = timers.setInterval(() => void check(), deps.intervalMs ?? UPDATE_INTERVAL_MS);
  return { check, stop: () => timers.clearInterval(handle) };
}
