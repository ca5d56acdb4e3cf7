import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exited, freePort } from './process.ts';

export interface TestRedis {
  url: string;
  port: number;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;

/** One inline PING over a raw socket, so this helper does not depend on a Redis client. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('error', () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.once('data', (buf) => done(buf.toString().startsWith('+PONG')));
  });
}

/** Starts a throwaway redis-server on 127.0.0.1 (a free port unless given) with persistence off. */
export async function startRedis(opts: { port?: number } = {}): Promise<TestRedis> {
  const port = opts.port ?? (await freePort());
  const dir = await mkdtemp(join(tmpdir(), 'agencia-redis-'));
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // redis-server logs to stdout; keep the tail of both streams for error messages.
  let output = '';
  const keep = (b: Buffer) => (output = (output + b.toString()).slice(-2000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'ENOENT'
          ? new Error('redis-server is not installed (apt-get install redis-server), or set REDIS_URL')
          : err,
      );
    });
  });
  spawnError.catch(() => {}); // raced below; this only keeps an early failure from going unhandled

  const stop = async () => {
    // pid is undefined when the spawn itself failed: nothing to kill.
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited(child);
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      await Promise.race([spawnError, new Promise((r) => setTimeout(r, 50))]);
      if (child.exitCode !== null)
        throw new Error(`redis-server exited with ${child.exitCode}: ${output.trim()}`);
      if (await ping(port)) break;
      if (Date.now() > deadline)
        throw new Error(`redis-server did not answer PING on port ${port}: ${output.trim()}`);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `redis://127.0.0.1:${port}`, port, stop };
}
