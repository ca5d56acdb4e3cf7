/**
 * Builds the cage image: bundles the runner into one file with esbuild, then builds
 * cage/Dockerfile through the Docker API (no CLI, no registry when the base image is local).
 *
 *   node --import tsx cage/build.ts [--base IMAGE] [--tag TAG] [--bundle-only]
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type Docker from 'dockerode';
import { build } from 'esbuild';
import { createDockerClient } from '../src-engine/cage/docker-client.ts';
import { DEFAULT_CAGE_IMAGE } from '../src-engine/contracts/cage.ts';

export const CAGE_DIR = dirname(fileURLToPath(import.meta.url));
/** Where `--bundle-only` writes the bundle (an artefact, not source; the context of a manual build). */
export const BUNDLE_PATH = join(CAGE_DIR, '..', 'dist', 'cage', 'runner.mjs');
export const DEFAULT_BASE_IMAGE = 'node:22-slim';

/** The runner and everything it imports (zod, the shared contract) as one ES module. */
export async function bundleRunner(): Promise<Buffer> {
  const out = await build({
    entryPoints: [join(CAGE_DIR, 'runner', 'main.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    minify: true,
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  });
  const file = out.outputFiles[0];
  if (!file) throw new Error('esbuild produced no output');
  return Buffer.from(file.contents);
}

export interface BuildCageImageOptions {
  docker: Docker;
  base?: string;
  tag?: string;
  /** A bundle already made (tests hash it into the tag first); made here when absent. */
  bundle?: Buffer;
  onProgress?: (line: string) => void;
}

/** Builds cage/Dockerfile on `base` as `tag`; throws with the builder's message on failure. */
export async function buildCageImage(opts: BuildCageImageOptions): Promise<string> {
  const tag = opts.tag ?? DEFAULT_CAGE_IMAGE;
  const bundle = opts.bundle ?? (await bundleRunner());
  // A private context folder: concurrent builds (parallel test files) never share files.
  const context = await mkdtemp(join(tmpdir(), 'agencia-cage-build-'));
  try {
    await writeFile(join(context, 'runner.mjs'), bundle);
    await copyFile(join(CAGE_DIR, 'Dockerfile'), join(context, 'Dockerfile'));
    const stream = await opts.docker.buildImage(
      { context, src: ['Dockerfile', 'runner.mjs'] },
      { t: tag, buildargs: { BASE: opts.base ?? DEFAULT_BASE_IMAGE }, rm: true, forcerm: true },
    );
    await followProgress(opts.docker, stream, opts.onProgress);
    return tag;
  } finally {
    await rm(context, { recursive: true, force: true });
  }
}

interface BuildEvent {
  stream?: string;
  error?: string;
  errorDetail?: { message?: string };
}

/** Reads a build or import progress stream to its end; rejects with Docker's error if there is one. */
export function followProgress(
  docker: Docker,
  stream: NodeJS.ReadableStream,
  onProgress?: (line: string) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let failure: string | undefined;
    docker.modem.followProgress(
      stream,
      (err: Error | null) =>
        err ? reject(err) : failure ? reject(new Error(`Docker failed: ${failure}`)) : resolve(),
      (event: BuildEvent) => {
        if (event.error) failure = event.errorDetail?.message ?? event.error;
        const line = event.stream?.trimEnd();
        if (line) onProgress?.(line);
      },
    );
  });
}

/** A short content hash, for tags that change exactly when what goes into an image changes. */
export function contentHash(...parts: (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 16);
}

/** The Dockerfile's text, for hashing into a tag. */
export function readDockerfile(): Promise<string> {
  return readFile(join(CAGE_DIR, 'Dockerfile'), 'utf8');
}

async function cli(): Promise<void> {
  const { values } = parseArgs({
    options: { base: { type: 'string' }, tag: { type: 'string' }, 'bundle-only': { type: 'boolean' } },
  });
  const bundle = await bundleRunner();
  await mkdir(dirname(BUNDLE_PATH), { recursive: true });
  await writeFile(BUNDLE_PATH, bundle);
  console.log(`bundled the runner: ${BUNDLE_PATH} (${bundle.length} bytes)`);
  if (values['bundle-only']) return;
  const tag = await buildCageImage({
    docker: createDockerClient(process.env.DOCKER_HOST),
    base: values.base,
    tag: values.tag,
    bundle,
    onProgress: (l) => console.log(l),
  });
  console.log(`built ${tag}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  cli().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
