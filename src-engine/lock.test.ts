import { spawn, spawnSync, type StdioOptions } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  acquireDataDirLock,
  acquireEngineLock,
  LOCK_HEARTBEAT_MS,
  lockHolder,
  type LockClock,
} from './lock.ts';

/** A child process running `code` with `acquireDataDirLock` in scope. */
const withLock = (code: string, stdio: StdioOptions) =>
  spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      `import('${join(import.meta.dirname, 'lock.ts')}').then(({ acquireDataDirLock }) => { ${code} })`,
    ],
    { stdio },
  );

it('allows one engine per data dir and takes over a dead one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agencia-lock-'));
  try {
    const lock = acquireDataDirLock(dir);
    expect(lockHolder(dir)).toEqual({ pid: process.pid, role: 'engine' });
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
    expect(lockHolder(dir)).toEqual({ pid: process.pid, role: 'engine' });
    again.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('a lock is never seen empty: another process reads the holder or nothing, never a stale-looking file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agencia-lock-'));
  try {
    // A child takes and releases the lock 3,000 times while we read it as another engine would.
    const child = withLock(
      `for (let i = 0; i < 3000; i++) acquireDataDirLock(${JSON.stringify(dir)}).release();`,
      'ignore',
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
    expect(
      [...seen].filter((text) => !/^\{"pid":\d+,"role":"engine","bootedAt":[\d.]+\}\n$/.test(text)),
    ).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it("starts racing to take over a dead holder's lock: exactly one of them gets it, every time", async () => {
  const root = mkdtempSync(join(tmpdir(), 'agencia-lock-race-'));
  try {
    const exited = spawnSync(process.execPath, ['-e', 'console.log(process.pid)']);
    const deadPid = Number(String(exited.stdout).trim());
    const TRIALS = 25;
    for (let t = 0; t < TRIALS; t++) {
      mkdirSync(join(root, String(t)));
      writeFileSync(
        join(root, String(t), 'engine.lock'),
        `${JSON.stringify({ pid: deadPid, role: 'engine' })}\n`,
      );
    }
    // Four processes; in each trial all of them spin until the same instant, then take the lock (and
    // keep it, as a running engine would).
    const start = Date.now() + 4_000;
    const racers = [0, 1, 2, 3].map(() => {
      const child = withLock(
        `const got = [], refused = [];
         for (let t = 0; t < ${TRIALS}; t++) {
           while (Date.now() < ${start} + t * 40);
           try { acquireDataDirLock(${JSON.stringify(root)} + '/' + t); got.push(t); }
           catch (err) { refused.push(err.code + ': ' + err.message); }
         }
         console.log(JSON.stringify({ got, refused }));`,
        ['ignore', 'pipe', 'inherit'],
      );
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += String(d)));
      return new Promise<{ got: number[]; refused: string[] }>((resolve, reject) => {
        child.once('error', reject);
        child.once('exit', (code) =>
          code === 0
            ? resolve(JSON.parse(out) as { got: number[]; refused: string[] })
            : reject(new Error(`exit ${code}`)),
        );
      });
    });
    const results = await Promise.all(racers);
    const got = results.flatMap((r) => r.got);
    // The others were told another engine holds it (never a lock error of another kind).
    expect(results.flatMap((r) => r.refused).filter((e) => !/^CONFLICT: Another engine/.test(e))).toEqual([]);
    const holders = Array.from({ length: TRIALS }, (_, t) => got.filter((g) => g === t).length);
    expect(holders).toEqual(Array<number>(TRIALS).fill(1));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}, 30_000);

describe('a lock from another boot, a replay holder', () => {
  let dir: string;
  const file = () => join(dir, 'engine.lock');
  const BOOT = 1_750_000_000_000;
  let clock: LockClock & { at: number; boot: number };
  /** A lock held by our parent (a live pid that is not us), as written `ageMs` ago in the boot `bootedAt`. */
  const parentLock = (fields: Record<string, unknown>, ageMs = 0) => {
    writeFileSync(file(), `${JSON.stringify({ pid: process.ppid, role: 'engine', ...fields })}\n`);
    const t = new Date(clock.at - ageMs);
    utimesSync(file(), t, t);
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agencia-lock-'));
    clock = { at: Date.now(), boot: BOOT, now: () => clock.at, bootedAt: () => clock.boot };
  });
  afterEach(() => {
    vi.useRealTimers();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a live pid in a lock from an earlier boot, silent for over a minute, is some other process now: taken over', () => {
    parentLock({ bootedAt: BOOT - 86_400_000 }, 5 * 60_000);
    expect(lockHolder(dir, clock)).toBeUndefined();
    const lock = acquireDataDirLock(dir, { clock });
    expect(lockHolder(dir, clock)).toEqual({ pid: process.pid, role: 'engine' });
    lock.release();
  });

  it('is not taken over while its heartbeat is fresh (a clock step moves the computed boot), nor in the same boot', () => {
    parentLock({ bootedAt: BOOT - 86_400_000 }, 10_000);
    expect(() => acquireDataDirLock(dir, { clock })).toThrow(/Another engine \(pid \d+\) is already running/);
    // Same boot (within a minute): a live pid is the engine, however long since its last beat.
    parentLock({ bootedAt: BOOT + 30_000 }, 60 * 60_000);
    expect(lockHolder(dir, clock)).toEqual({ pid: process.ppid, role: 'engine' });
    // A lock written before boots were recorded (a bare pid): live while its pid is.
    writeFileSync(file(), `${process.ppid}\n`);
    expect(lockHolder(dir, clock)).toEqual({ pid: process.ppid, role: 'engine' });
  });

  it("the engine's heartbeat keeps its lock fresh", () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const lock = acquireDataDirLock(dir, { clock });
    const old = new Date(clock.at - 10 * 60_000);
    utimesSync(file(), old, old);
    clock.at += LOCK_HEARTBEAT_MS;
    vi.advanceTimersByTime(LOCK_HEARTBEAT_MS);
    expect(statSync(file()).mtimeMs).toBeCloseTo(clock.at, -3);
    lock.release();
    expect(existsSync(file())).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("an engine start waits for another program's journal replay to end instead of failing", async () => {
    parentLock({ role: 'replay', bootedAt: BOOT });
    expect(lockHolder(dir, clock)).toEqual({ pid: process.ppid, role: 'replay' });
    expect(() => acquireDataDirLock(dir, { clock })).toThrow(/applying the engine's write journal/);
    setTimeout(() => rmSync(file()), 150);
    const started = Date.now();
    const lock = await acquireEngineLock(dir, { clock, pollMs: 10 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(lockHolder(dir, clock)).toEqual({ pid: process.pid, role: 'engine' });
    lock.release();
  });

  it('gives up on a replay that does not end, and at once on a running engine', async () => {
    parentLock({ role: 'replay', bootedAt: BOOT });
    await expect(acquireEngineLock(dir, { clock, waitMs: 100, pollMs: 10 })).rejects.toThrow(
      /applying the engine's write journal/,
    );
    parentLock({ role: 'engine', bootedAt: BOOT });
    const started = Date.now();
    await expect(acquireEngineLock(dir, { clock, waitMs: 5_000 })).rejects.toThrow(/already running/);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
