import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from './errors.ts';

export interface DataDirLock {
  readonly file: string;
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid of the engine that holds the data directory, if one is running. */
export function lockHolder(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dataDir, 'engine.lock'), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One engine per data directory: the embedded queue relies on it to treat every job left active
 * at start-up as orphaned. A lock left by a dead process (kill -9, power loss) is taken over.
 */
export function acquireDataDirLock(dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'engine.lock');
  // The pid goes into a file of our own first, which is then linked as the lock: the lock never exists
  // empty, as it would between creating and writing it (another process would read that as stale).
  const mine = `${file}.${process.pid}`;
  writeFileSync(mine, `${process.pid}\n`);
  try {
    for (let tries = 0; tries < 2; tries++) {
      try {
        linkSync(mine, file);
        let released = false;
        return {
          file,
          release() {
            if (released) return;
            released = true;
            if (lockHolder(dataDir) === process.pid) rmSync(file, { force: true });
          },
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const holder = lockHolder(dataDir);
        if (holder !== undefined && holder !== process.pid) {
          throw new AppError('CONFLICT', `Another engine (pid ${holder}) is already running on ${dataDir}`);
        }
        rmSync(file, { force: true });
      }
    }
    throw new AppError('CONFLICT', `Could not lock ${dataDir}`);
  } finally {
    rmSync(mine, { force: true });
  }
}
