import { linkSync, mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { uptime } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { AppError } from './errors.ts';

/**
 * Who holds a data dir: its engine (`start`, the desktop app, `agents run`), or another program (`status`,
 * `topup`, ...) that applies a journal a dead engine left, for the moment that takes.
 */
export type LockRole = 'engine' | 'replay';

export interface LockHolder {
  pid: number;
  role: LockRole;
}

export interface DataDirLock {
  readonly file: string;
  release(): void;
}

export interface LockClock {
  /** Wall clock, ms. */
  now(): number;
  /** When this machine booted, ms on the wall clock. */
  bootedAt(): number;
}

const systemClock: LockClock = {
  now: Date.now,
  // Uptime counts sleep on Linux, macOS and Windows, so this stays put until the next boot.
  bootedAt: () => Date.now() - uptime() * 1000,
};

/** The engine touches its lock this often, so that a live one never looks left over. */
export const LOCK_HEARTBEAT_MS = 15_000;
/**
 * A lock written in another boot of the machine whose heartbeat is this old is left over, even if its
 * pid is alive now: after a reboot that pid belongs to some other process (Windows reuses pids soon).
 * Boot times computed from the wall clock wander with clock steps; the heartbeat covers those.
 */
const OTHER_BOOT_MS = 60_000;
const STALE_HEARTBEAT_MS = 4 * LOCK_HEARTBEAT_MS;
/** How long a takeover of a dead holder's lock waits for another one under way (a moment each). */
const TAKEOVER_WAIT_MS = 5_000;
/** How long an engine start waits for another program's journal replay to end. */
const REPLAY_WAIT_MS = 10_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface LockFile extends LockHolder {
  /** Absent in locks written before it was recorded (a bare pid). */
  bootedAt?: number;
}

function parseLock(text: string): LockFile | undefined {
  const t = text.trim();
  if (/^\d+$/.test(t)) return { pid: Number(t), role: 'engine' };
  try {
    const v = JSON.parse(t) as Partial<LockFile>;
    if (!Number.isInteger(v.pid) || v.pid! <= 0 || (v.role !== 'engine' && v.role !== 'replay')) return;
    return {
      pid: v.pid!,
      role: v.role,
      ...(typeof v.bootedAt === 'number' && { bootedAt: v.bootedAt }),
    };
  } catch {
    return undefined;
  }
}

/** The process holding the data directory, if one is (a lock left by a dead or rebooted one is not). */
export function lockHolder(dataDir: string, clock: LockClock = systemClock): LockHolder | undefined {
  const file = join(dataDir, 'engine.lock');
  let lock: LockFile | undefined;
  let touchedAt: number;
  try {
    lock = parseLock(readFileSync(file, 'utf8'));
    touchedAt = statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
  if (!lock || !alive(lock.pid)) return undefined;
  const leftOver =
    lock.bootedAt !== undefined &&
    Math.abs(lock.bootedAt - clock.bootedAt()) > OTHER_BOOT_MS &&
    clock.now() - touchedAt > STALE_HEARTBEAT_MS;
  return leftOver ? undefined : { pid: lock.pid, role: lock.role };
}

function conflict(holder: LockHolder, dataDir: string): AppError {
  return holder.role === 'engine'
    ? new AppError('CONFLICT', `Another engine (pid ${holder.pid}) is already running on ${dataDir}`, {
        pid: holder.pid,
      })
    : new AppError(
        'CONFLICT',
        `Another program (pid ${holder.pid}) is applying the engine's write journal in ${dataDir}; ` +
          'try again in a moment',
        { pid: holder.pid },
      );
}

/**
 * One engine per data directory: the embedded queue relies on it to treat every job left active
 * at start-up as orphaned. A lock left by a dead process (kill -9, power loss, a reboot) is taken over.
 */
export function acquireDataDirLock(
  dataDir: string,
  opts: { role?: LockRole; clock?: LockClock } = {},
): DataDirLock {
  const role = opts.role ?? 'engine';
  const clock = opts.clock ?? systemClock;
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'engine.lock');
  // The holder goes into a file of our own first, which is then linked as the lock: the lock never
  // exists empty, as it would between creating and writing it (another process would read that as stale).
  const mine = `${file}.${process.pid}`;
  writeFileSync(mine, `${JSON.stringify({ pid: process.pid, role, bootedAt: clock.bootedAt() })}\n`);
  try {
    for (let tries = 0; tries < 2; tries++) {
      try {
        linkSync(mine, file);
        return held(dataDir, file, role, clock);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const holder = lockHolder(dataDir, clock);
        if (holder !== undefined && holder.pid !== process.pid) throw conflict(holder, dataDir);
        takeOver(dataDir, file, clock);
      }
    }
    throw new AppError('CONFLICT', `Could not lock ${dataDir}`);
  } finally {
    rmSync(mine, { force: true });
  }
}

/**
 * Removes a lock left over by a dead holder. Takeovers run one at a time, under an OS file lock that
 * dies with its process (SQLite's, on a file of its own), and judge the lock again under it: two
 * starts that both found the dead lock would otherwise each remove it, the second removing the lock
 * the first had just made, and both hold the data dir (and empty each other's write journal).
 */
function takeOver(dataDir: string, file: string, clock: LockClock): void {
  const mutex = new Database(join(dataDir, 'engine.takeover'), { timeout: TAKEOVER_WAIT_MS });
  try {
    mutex.exec('BEGIN EXCLUSIVE');
    const holder = lockHolder(dataDir, clock);
    if (holder !== undefined && holder.pid !== process.pid) throw conflict(holder, dataDir);
    rmSync(file, { force: true });
  } finally {
    mutex.close();
  }
}

function held(dataDir: string, file: string, role: LockRole, clock: LockClock): DataDirLock {
  const ours = () => lockHolder(dataDir, clock)?.pid === process.pid;
  // Only an engine holds its lock long enough to need a heartbeat; a replay lasts a moment.
  const heartbeat =
    role === 'engine'
      ? setInterval(() => {
          try {
            if (ours()) utimesSync(file, new Date(clock.now()), new Date(clock.now()));
          } catch {
            // A missed beat is made up by the next; the lock stays ours either way.
          }
        }, LOCK_HEARTBEAT_MS).unref()
      : undefined;
  let released = false;
  return {
    file,
    release() {
      if (released) return;
      released = true;
      clearInterval(heartbeat);
      if (ours()) rmSync(file, { force: true });
    },
  };
}

/**
 * The engine's lock, waiting (up to `waitMs`) while another program holds the data dir for a journal
 * replay, which ends in a moment, instead of failing the start over it.
 */
export async function acquireEngineLock(
  dataDir: string,
  opts: { clock?: LockClock; waitMs?: number; pollMs?: number } = {},
): Promise<DataDirLock> {
  const deadline = Date.now() + (opts.waitMs ?? REPLAY_WAIT_MS);
  for (;;) {
    try {
      return acquireDataDirLock(dataDir, opts.clock ? { clock: opts.clock } : {});
    } catch (err) {
      const holder = err instanceof AppError ? lockHolder(dataDir, opts.clock) : undefined;
      if (holder?.role !== 'replay' || Date.now() >= deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, opts.pollMs ?? 50));
    }
  }
}
