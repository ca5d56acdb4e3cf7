import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

it('a lock is never seen empty: another process reads the pid or nothing, never a stale-looking file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agencia-lock-'));
  try {
    // A child takes and releases the lock 3,000 times while we read it as another engine would.
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `import('${join(import.meta.dirname, 'lock.ts')}').then(({ acquireDataDirLock }) => {
           for (let i = 0; i < 3000; i++) acquireDataDirLock(${JSON.stringify(dir)}).release();
         })`,
      ],
      { stdio: 'ignore' },
    );
    const exited = new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', resolve);
    });
    const seen = new Set<string>();
    while (child.exitCode === null) {
      try {
        seen.add(readFileSync(join(dir, 'engine.lock'), 'utf8'));
      } catch {
        // no lock at this instant
      }
      await new Promise((r) => setImmediate(r));
    }
    expect(await exited).toBe(0);
    expect(seen.size).toBeGreaterThan(0);
    expect([...seen].filter((text) => !/^\d+\n$/.test(text))).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
