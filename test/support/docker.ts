import { execFile, spawn } from 'node:child_process';
import { constants, openSync, closeSync } from 'node:fs';
import {
  access,
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  readFile,
  realpath,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import {
  bundleRunner,
  buildCageImage,
  contentHash,
  followProgress,
  readDockerfile,
} from '../../cage/build.ts';
import { createDockerClient } from '../../src-engine/cage/docker-client.ts';

/**
 * Real Docker for the cage tests, with nothing pulled: starts dockerd when its socket does not
 * answer (root only), makes a minimal base image with `docker import` from a rootfs holding this
 * machine's Node 22, a shell and a few tools (with the shared libraries `ldd` names), and builds
 * cage/Dockerfile on it. Images are tagged by a hash of what goes into them, so a second run
 * reuses them. When Docker cannot be had, `ensureDocker` says why and the tests skip loudly.
 */
export type DockerForTests =
  { ok: true; docker: Docker; baseImage: string; cageImage: string } | { ok: false; reason: string };

const execFileP = promisify(execFile);
const START_TIMEOUT_MS = 30_000;
// Bump when the rootfs recipe changes.
const ROOTFS_RECIPE = 1;
/**
 * Host tools copied into the test base (with /bin/sh, for the shell tool): what the escape tests
 * run, `true` for the bench's bare `docker run`, and busybox when this machine has it.
 */
const TOOLS = [
  'cat',
  'cp',
  'chmod',
  'ls',
  'id',
  'mount',
  'sleep',
  'head',
  'dd',
  'rm',
  'ln',
  'mkdir',
  'true',
  'busybox',
];
const CAGE_USER = 'cage:x:10001:10001:cage:/workspace:/sbin/nologin';

let ready: Promise<DockerForTests> | undefined;

/** Idempotent, per test process; safe to call from several test files at once. */
export function ensureDocker(): Promise<DockerForTests> {
  ready ??= prepare().then(
    (state) => {
      if (!state.ok) console.warn(`SKIPPED: the cage tests need Docker: ${state.reason}`);
      return state;
    },
    (err: unknown) => {
      const reason = err instanceof Error ? err.message : String(err);
      console.warn(`SKIPPED: the cage tests need Docker: ${reason}`);
      return { ok: false, reason };
    },
  );
  return ready;
}

async function prepare(): Promise<DockerForTests> {
  const docker = createDockerClient(process.env.DOCKER_HOST);
  if (!(await answers(docker))) {
    const why = await startDaemon(docker);
    if (why) return { ok: false, reason: why };
  }
  const baseImage = await ensureBaseImage(docker);
  const bundle = await bundleRunner();
  const cageImage = `agencia-cage-test:${contentHash(bundle, await readDockerfile(), baseImage)}`;
  if (!(await imageExists(docker, cageImage))) {
    await buildCageImage({ docker, base: baseImage, tag: cageImage, bundle });
    await pruneTags(docker, cageImage);
  }
  return { ok: true, docker, baseImage, cageImage };
}

async function answers(docker: Docker): Promise<boolean> {
  const timeout = new Promise<false>((r) => setTimeout(() => r(false), 1000).unref());
  return Promise.race([
    docker.ping().then(
      () => true,
      () => false,
    ),
    timeout,
  ]);
}

/** Starts dockerd in the background (it outlives the tests, for the next run); undefined when up. */
async function startDaemon(docker: Docker): Promise<string | undefined> {
  if (process.env.DOCKER_HOST) return `DOCKER_HOST=${process.env.DOCKER_HOST} does not answer`;
  if (process.getuid?.() !== 0) return 'dockerd is not running and only root can start it here';
  const dockerd = await which('dockerd');
  if (!dockerd) return 'dockerd is not installed (apt-get install docker.io)';
  const logFile = join(tmpdir(), 'agencia-dockerd.log');
  const fd = openSync(logFile, 'a');
  // Two test files may get here at once: the second dockerd exits (pid file) and both wait below.
  const child = spawn(dockerd, ['--iptables=false', '--bridge=none'], {
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  child.unref();
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (await answers(docker)) return undefined;
    await new Promise((r) => setTimeout(r, 200));
  }
  const log = await readFile(logFile, 'utf8').catch(() => '');
  return `dockerd did not answer within ${START_TIMEOUT_MS / 1000} s (log ${logFile}): ${log.trim().split('\n').slice(-3).join(' | ')}`;
}

/** Untags the other versions of `tag`'s repository: each change of the cage's sources makes one. */
export async function pruneTags(docker: Docker, tag: string): Promise<void> {
  const repo = tag.split(':')[0] ?? tag;
  const images = await docker.listImages({ filters: { reference: [repo] } });
  const stale = images.flatMap((i) => i.RepoTags ?? []).filter((t) => t !== tag && t.startsWith(`${repo}:`));
  // An image still used by a container of a concurrent test run stays: that is fine.
  await Promise.all(
    stale.map((t) =>
      docker
        .getImage(t)
        .remove()
        .catch(() => {}),
    ),
  );
}

async function imageExists(docker: Docker, tag: string): Promise<boolean> {
  return docker
    .getImage(tag)
    .inspect()
    .then(
      () => true,
      () => false,
    );
}

async function which(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin'])) {
    const file = join(dir, name);
    try {
      await access(file, constants.X_OK);
      return await realpath(file);
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The Node 22 the tests run on (scripts/node22.sh puts it first on PATH and sets NODE22_HOME). */
function nodeBinary(): string {
  return process.env.NODE22_HOME ? join(process.env.NODE22_HOME, 'bin', 'node') : process.execPath;
}

async function ensureBaseImage(docker: Docker): Promise<string> {
  const node = await realpath(nodeBinary());
  const sh = await realpath('/bin/sh');
  const tools = (await Promise.all(TOOLS.map(async (t) => [t, await which(t)] as const))).filter(
    (t): t is readonly [string, string] => t[1] !== undefined,
  );
  const fingerprint = await Promise.all(
    [node, sh, ...tools.map((t) => t[1])].map(
      async (f) => `${f}:${(await stat(f)).size}:${(await stat(f)).mtimeMs}`,
    ),
  );
  const tag = `agencia-cage-testbase:${contentHash(String(ROOTFS_RECIPE), ...fingerprint)}`;
  if (await imageExists(docker, tag)) return tag;

  const root = await mkdtemp(join(tmpdir(), 'agencia-rootfs-'));
  try {
    for (const dir of ['bin', 'usr/local/bin', 'etc', 'tmp', 'workspace', 'proc', 'sys', 'dev', 'opt']) {
      await mkdir(join(root, dir), { recursive: true });
    }
    await chmod(join(root, 'tmp'), 0o1777);
    await install(root, node, 'usr/local/bin/node');
    await install(root, sh, 'bin/sh');
    for (const [name, file] of tools) await install(root, file, `bin/${name}`);
    await writeFile(join(root, 'etc', 'passwd'), `root:x:0:0:root:/root:/bin/sh\n${CAGE_USER}\n`);
    await writeFile(join(root, 'etc', 'group'), 'root:x:0:\ncage:x:10001:\n');
    const tar = spawn('tar', ['-C', root, '--numeric-owner', '--owner=0', '--group=0', '-c', '.'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [repo, version] = tag.split(':') as [string, string];
    const progress = await docker.importImage(tar.stdout, { repo, tag: version });
    await followProgress(docker, progress);
    await pruneTags(docker, tag);
    return tag;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** Copies a host binary into the rootfs with its mode (setuid included) and every library it loads. */
async function install(root: string, file: string, as: string): Promise<void> {
  await copyFile(file, join(root, as));
  await chmod(join(root, as), (await stat(file)).mode & 0o7777);
  const { stdout } = await execFileP('ldd', [file]).catch(() => ({ stdout: '' }));
  for (const match of stdout.matchAll(/(\/\S+)\s+\(0x/g)) {
    const lib = match[1] as string;
    const dest = join(root, lib);
    await mkdir(dirname(dest), { recursive: true });
    await copyFile(lib, dest);
  }
}
