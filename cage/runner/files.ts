import { constants } from 'node:fs';
import { mkdir, open, readlink, realpath, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import type { ToolOutcome } from './shell.ts';

/**
 * `read_file` and `write_file`, confined to the workspace. The container is the real boundary
 * (everything else is read-only and holds nothing secret); this keeps the tools to their contract:
 * no `..`, no absolute path elsewhere, no symlink that leads out, checked on the opened file itself.
 */
export class Workspace {
  private realRoot: string | undefined;

  constructor(private readonly root: string) {}

  async read(path: string, maxBytes: number): Promise<ToolOutcome> {
    const target = await this.resolveExisting(path);
    const fh = await open(target, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      await this.checkOpened(fh, path);
      const stat = await fh.stat();
      if (!stat.isFile()) throw new ToolError(`${path} is not a regular file`);
      const buf = Buffer.alloc(Math.min(stat.size, maxBytes));
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      const body = buf.subarray(0, bytesRead).toString('utf8');
      const more = stat.size - bytesRead;
      return { ok: true, output: more > 0 ? `${body}\n[… ${more} more bytes not shown]` : body };
    } finally {
      await fh.close();
    }
  }

  async write(path: string, content: string): Promise<ToolOutcome> {
    const target = this.lexical(path);
    if (target === this.root) throw new ToolError('cannot write to the workspace directory itself');
    // mkdir -p follows symlinks, so the deepest existing ancestor is checked before creating anything.
    const parent = dirname(target);
    await this.inside(await this.deepestExisting(parent), path);
    await mkdir(parent, { recursive: true });
    await this.inside(await realpath(parent), path);
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;
    const fh = await open(target, flags, 0o644);
    try {
      await this.checkOpened(fh, path);
      await fh.writeFile(content, 'utf8');
    } finally {
      await fh.close();
    }
    return {
      ok: true,
      output: `wrote ${Buffer.byteLength(content)} bytes to ${relative(this.root, target)}`,
    };
  }

  /** `path` joined to the root without touching the disk; `..` that climbs out is refused. */
  private lexical(path: string): string {
    if (path.includes('\0')) throw new ToolError('the path contains a NUL byte');
    const target = resolve(this.root, path);
    if (target !== this.root && !target.startsWith(this.root + sep)) {
      throw new ToolError(`${path} is outside the workspace (${this.root})`);
    }
    return target;
  }

  private async resolveExisting(path: string): Promise<string> {
    const real = await realpath(this.lexical(path));
    await this.inside(real, path);
    return real;
  }

  private async deepestExisting(dir: string): Promise<string> {
    for (let d = dir; ; d = dirname(d)) {
      try {
        return await realpath(d);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || d === dirname(d)) throw err;
      }
    }
  }

  private async inside(real: string, asked: string): Promise<void> {
    this.realRoot ??= await realpath(this.root);
    const rel = relative(this.realRoot, real);
    if (rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel))) return;
    throw new ToolError(`${asked} leads outside the workspace (${this.root})`);
  }

  /** What the kernel opened, by its descriptor: closes the gap between the checks and the open. */
  private async checkOpened(fh: FileHandle, asked: string): Promise<void> {
    await this.inside(await readlink(`/proc/self/fd/${fh.fd}`), asked);
  }
}

/** A refusal the model should read, as opposed to a bug. */
export class ToolError extends Error {
  override readonly name = 'ToolError';
}
