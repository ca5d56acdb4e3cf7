import { spawn } from 'node:child_process';

export interface ToolOutcome {
  ok: boolean;
  output: string;
}

export interface ShellOptions {
  cwd: string;
  timeoutMs: number;
  maxOutputBytes: number;
  signal: AbortSignal;
  /** The shell to run commands with; `/bin/sh` in the cage. */
  shell?: string;
}

/** Keeps the first `max` bytes of a stream and counts the rest, so a chatty command costs nothing. */
export class OutputCap {
  private readonly parts: Buffer[] = [];
  private size = 0;
  private omitted = 0;

  constructor(private readonly max: number) {}

  add(chunk: Buffer): void {
    const room = this.max - this.size;
    if (room > 0) {
      const kept = chunk.length <= room ? chunk : chunk.subarray(0, room);
      this.parts.push(kept);
      this.size += kept.length;
    }
    this.omitted += Math.max(0, chunk.length - Math.max(0, room));
  }

  text(): string {
    const body = Buffer.concat(this.parts, this.size).toString('utf8');
    return this.omitted > 0 ? `${body}\n[… ${this.omitted} more bytes omitted]` : body;
  }
}

// Time a finished command's pipes get to close: a background job that left the process group
// (setsid) may hold them open forever, and must not hold the tool call with it.
const PIPE_GRACE_MS = 200;

/**
 * Runs one command with `sh -c` in its own process group. When it ends, times out or the run is
 * stopped, the whole group is killed, so no background job outlives the call.
 */
export function runShell(command: string, opts: ShellOptions): Promise<ToolOutcome> {
  const shell = opts.shell ?? '/bin/sh';
  const out = new OutputCap(opts.maxOutputBytes);
  return new Promise((resolve) => {
    const child = spawn(shell, ['-c', command], {
      cwd: opts.cwd,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: opts.cwd, TMPDIR: '/tmp', LANG: 'C.UTF-8' },
    });
    let why = '';
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // ESRCH: the group is already gone.
      }
    };
    const stop = (reason: string): void => {
      why ||= reason;
      killGroup();
    };
    const timer = setTimeout(() => stop(`timed out after ${opts.timeoutMs / 1000} s`), opts.timeoutMs);
    const onAbort = (): void => stop('stopped: the run is ending');
    opts.signal.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (b: Buffer) => out.add(b));
    child.stderr.on('data', (b: Buffer) => out.add(b));

    let settled = false;
    const finish = (outcome: ToolOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal.removeEventListener('abort', onAbort);
      resolve(outcome);
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      const message =
        err.code === 'ENOENT'
          ? `this cage image has no ${shell}: the shell tool needs a POSIX shell`
          : `could not start ${shell}: ${err.message}`;
      finish({ ok: false, output: message });
    });
    child.once('exit', (code, signal) => {
      killGroup();
      const report = (): void => {
        const status =
          why ||
          (signal
            ? `killed by ${signal}${signal === 'SIGKILL' ? ' (out of memory?)' : ''}`
            : `exit code ${code}`);
        const body = out.text();
        finish({ ok: !why && code === 0, output: body ? `${status}\n${body}` : status });
      };
      const grace = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        report();
      }, PIPE_GRACE_MS);
      child.once('close', () => {
        clearTimeout(grace);
        report();
      });
    });
  });
}
