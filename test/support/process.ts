import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/** Starts a long-running process and resolves `ready` once its stdout matches `pattern`. */
export function startUntil(args: string[], pattern: RegExp, env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += String(d)));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const ready = new Promise<RegExpMatchArray>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      stdout += String(d);
      const m = stdout.match(pattern);
      if (m) resolve(m);
    });
    void exited.then((code) => reject(new Error(`exited ${code} before ready: ${stdout}\n${stderr}`)));
  });
  return { child, ready, exited, output: () => stdout };
}

/** Asks the OS for a free port; a small race with other processes is acceptable in tests. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Resolves once the child has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Polls `ok` until it holds, or fails naming `what`. */
export async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A JSON POST to an engine's `/api/v1` with an API key: its status and parsed body. */
export async function postApi(base: string, key: string, path: string, body: unknown) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
