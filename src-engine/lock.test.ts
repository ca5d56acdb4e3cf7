import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { acquireDataDirLock, lockHolder } from './lock.ts';

it('allows one engine per data dir and takes over a dead one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agencia-lock-'));
  try {
    const lock = acquireDataDirLock(dir);
    expect(lockHolder(dir)).toBe(process.pid);
    lock.release();
    expect(existsSync(join(dir, 'engine.lock'))).toBe(false);
    // A live holder that is another process (our parent): the lock is refused with CONFLICT.
    writeFileSync(join(dir, 'engine.lock'), `${process.ppid}\n`);
    expect(() => acquireDataDirLock(dir)).toThrow(/already running/);
    // A dead holder (a process that has exited): taken over.
    const exited = spawnSync(process.execPath, ['-e', 'console.log(process.pid)']);
    const deadPid = Number(String(exited.stdout).trim());
    writeFileSync(join(dir, 'engine.lock'), `${deadPid}\n`);
    const again = acquireDataDirLock(dir);
    expect(lockHolder(dir)).toBe(process.pid);
    again.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
