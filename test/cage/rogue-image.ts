import { mkdtemp, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { contentHash, followProgress } from '../../cage/build.ts';
import { pruneTags } from '../support/docker.ts';

const ROGUE = new URL('./fixtures/rogue-runner.mjs', import.meta.url);

/** The cage image with fixtures/rogue-runner.mjs as its entry point: same hardening, bad runner. */
export async function ensureRogueImage(docker: Docker, cageImage: string): Promise<string> {
  const source = await readFile(ROGUE);
  const tag = `agencia-cage-rogue:${contentHash(source, cageImage)}`;
  const exists = await docker
    .getImage(tag)
    .inspect()
    .then(
      () => true,
      () => false,
    );
  if (exists) return tag;
  const context = await mkdtemp(join(tmpdir(), 'agencia-rogue-'));
  try {
    await copyFile(ROGUE, join(context, 'rogue.mjs'));
    await writeFile(
      join(context, 'Dockerfile'),
      `FROM ${cageImage}\nCOPY rogue.mjs /opt/agencia/rogue.mjs\nENTRYPOINT ["node", "/opt/agencia/rogue.mjs"]\n`,
    );
    const stream = await docker.buildImage(
      { context, src: ['Dockerfile', 'rogue.mjs'] },
      { t: tag, rm: true },
    );
    await followProgress(docker, stream);
    await pruneTags(docker, tag);
    return tag;
  } finally {
    await rm(context, { recursive: true, force: true });
  }
}
