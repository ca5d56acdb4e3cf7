import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ToolError, Workspace } from '../../cage/runner/files.ts';

/** The runner's read_file/write_file confinement, on a real directory tree with real symlinks. */
let base: string;
let root: string;
let outside: string;
let ws: Workspace;

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'agencia-ws-'));
  root = join(base, 'workspace');
  outside = join(base, 'outside');
  await mkdir(root);
  await mkdir(outside);
  await writeFile(join(outside, 'secret'), 'host secret');
  ws = new Workspace(root);
});
afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('workspace tools', () => {
  it('reads and writes inside the workspace, creating folders, by relative or absolute path', async () => {
    expect(await ws.write('a/b/c.txt', 'hello')).toEqual({ ok: true, output: 'wrote 5 bytes to a/b/c.txt' });
    expect(await ws.read(join(root, 'a/b/c.txt'), 1000)).toEqual({ ok: true, output: 'hello' });
    expect(await ws.read('./a/../a/b/c.txt', 1000)).toEqual({ ok: true, output: 'hello' });
  });

  it('cuts a long file at the limit and says how much is left', async () => {
    await ws.write('big', 'x'.repeat(100));
    expect(await ws.read('big', 10)).toEqual({ ok: true, output: 'xxxxxxxxxx\n[… 90 more bytes not shown]' });
  });

  it.each([
    ['../outside/secret', /is outside the workspace/],
    ['<outside>/secret', /is outside the workspace/],
    ['a\0b', /NUL byte/],
  ])('refuses the path %j', async (given, message) => {
    const path = given.replace('<outside>', outside);
    await expect(ws.read(path, 1000)).rejects.toThrow(message);
    await expect(ws.write(path, 'x')).rejects.toThrow(message);
    await expect(ws.read(path, 1000)).rejects.toBeInstanceOf(ToolError);
  });

  it('refuses to follow a symlink out, for reading and for writing', async () => {
    await symlink(join(outside, 'secret'), join(root, 'link'));
    await symlink(outside, join(root, 'dir'));
    await expect(ws.read('link', 1000)).rejects.toThrow(/leads outside the workspace/);
    await expect(ws.read('dir/secret', 1000)).rejects.toThrow(/leads outside the workspace/);
    await expect(ws.write('dir/new.txt', 'x')).rejects.toThrow(/leads outside the workspace/);
    await expect(ws.write('dir/deeper/new.txt', 'x')).rejects.toThrow(/leads outside the workspace/);
    // Writing through a symlinked file is refused by the kernel (O_NOFOLLOW), not truncated.
    await expect(ws.write('link', 'x')).rejects.toMatchObject({ code: 'ELOOP' });
    expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('host secret');
    await expect(readFile(join(outside, 'deeper', 'new.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('allows a symlink that stays inside, and refuses to read a folder or write the root', async () => {
    await ws.write('real.txt', 'inside');
    await symlink(join(root, 'real.txt'), join(root, 'alias'));
    expect(await ws.read('alias', 1000)).toEqual({ ok: true, output: 'inside' });
    await mkdir(join(root, 'folder'));
    await expect(ws.read('folder', 1000)).rejects.toThrow(/not a regular file/);
    await expect(ws.write('.', 'x')).rejects.toThrow(/workspace directory itself/);
  });
});
