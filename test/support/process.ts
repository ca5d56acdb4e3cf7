import { spawn } from 'node:child_process';

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
