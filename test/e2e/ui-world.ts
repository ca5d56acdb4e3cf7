// The world the browser tests and the renderer bench run in: the renderer built once with Vite
// (the same settings electron-vite uses for it), served by the static-ui plugin from a real
// engine (real SQLite, real API), and a headless Debian Chromium.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { build, type UserConfig } from 'vite';
import electronViteConfig from '../../electron.vite.config.ts';
import { createApiServer } from '../../src-engine/api/server.ts';
import { staticUi } from '../../src-engine/api/static-ui.ts';
import type { Engine } from '../../src-engine/engine.ts';
import { startTestEngine } from '../support/test-engine.ts';

const ROOT = resolve(import.meta.dirname, '../..');
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Runs a Vite build as production: vitest sets NODE_ENV=test, which Vite honours, and that would
 * select React's development build and JSX transform.
 */
export async function asProduction<T>(fn: () => Promise<T>): Promise<T> {
  const before = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    return await fn();
  } finally {
    process.env.NODE_ENV = before;
  }
}

/** Builds the renderer into a fresh temp folder (a few seconds), with electron-vite's settings for it. */
export async function buildRenderer(): Promise<string> {
  const outDir = mkdtempSync(join(tmpdir(), 'agencia-renderer-'));
  const renderer = electronViteConfig.renderer as UserConfig;
  await asProduction(() =>
    build({
      ...renderer,
      configFile: false,
      root: join(ROOT, 'src-renderer'),
      // electron-vite's renderer default: relative URLs work from file:// and from the engine alike.
      base: './',
      logLevel: 'warn',
      build: { ...renderer.build, outDir, emptyOutDir: true, reportCompressedSize: false },
    }),
  );
  return outDir;
}

export interface UiEngine {
  engine: Engine;
  /** `http://127.0.0.1:<port>` */
  base: string;
  /** The session token the page is opened with, as `start --ui` issues it. */
  token: string;
  orgId: string;
  close(): Promise<void>;
}

/**
 * A real engine (test/support/test-engine.ts) on a free loopback port serving the API and the built
 * UI, with one organization on `plan` (with the id `orgId` when given: a hosted ledger's org).
 * `exclusive` runs the workers (SmartSend, agents) as the lock-holding engine does.
 */
export async function startUiEngine(
  rendererDir: string,
  opts: { plan?: string; env?: Record<string, string>; exclusive?: boolean; orgId?: string } = {},
): Promise<UiEngine> {
  const te = await startTestEngine(opts.env, { exclusive: opts.exclusive ?? false });
  const { orgId } = await te.org({ plan: opts.plan ?? 'starter', instances: 0, id: opts.orgId });
  const token = te.engine.sessions.issue(orgId);
  const app = await createApiServer(te.engine);
  let port = 0;
  await app.register(staticUi, { rootDir: rendererDir, token, port: () => port });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    engine: te.engine,
    base: `http://127.0.0.1:${port}`,
    token,
    orgId,
    async close() {
      await app.close();
      await te.dispose();
    },
  };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
    timeout: 20_000,
  });
}
