// The packaged-shape app in a real Electron, where a binary exists (ELECTRON_OVERRIDE_DIST_PATH, the
// folder electron's own install script would fill). Elsewhere it says why it did not run, and is
// reported as skipped, never as passed.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'electron-vite';
import { _electron, type ElectronApplication, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const dist = process.env.ELECTRON_OVERRIDE_DIST_PATH;
const binary =
  dist &&
  [
    join(dist, 'electron'),
    join(dist, 'electron.exe'),
    join(dist, 'Electron.app/Contents/MacOS/Electron'),
  ].find(existsSync);
const skipReason = !dist
  ? 'ELECTRON_OVERRIDE_DIST_PATH is not set: no Electron binary on this machine'
  : !binary
    ? `no Electron binary in ${dist}`
    : process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY
      ? 'no display: run the tests under xvfb-run'
      : undefined;
if (skipReason) console.log(`SKIPPED: Electron e2e: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('the Electron app', () => {
  let dataDir: string;
  let app: ElectronApplication;
  let page: Page;

  beforeAll(async () => {
    await build({ root: ROOT, logLevel: 'warn' });
    dataDir = mkdtempSync(join(tmpdir(), 'agencia-electron-'));
    app = await _electron.launch({
      executablePath: binary!,
      // Chromium refuses its own sandbox as root (CI containers); the renderer's sandbox stays on.
      args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), join(ROOT, 'out/main/index.js')],
      env: { ...process.env, AGENCIA_DATA_DIR: dataDir, ENGINE_PORT: '0', LOG_LEVEL: 'silent' },
      timeout: 30_000,
    });
    page = await app.firstWindow();
    page.setDefaultTimeout(10_000);
  }, 90_000);

  afterAll(async () => {
    await app?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('loads our page sandboxed, with only the bridge exposed', async () => {
    expect(page.url()).toMatch(/^file:.*\/out\/renderer\/index\.html/);
    const globals = await page.evaluate(() => ({
      bridge: typeof window.agencia?.invoke,
      require: typeof (globalThis as { require?: unknown }).require,
      process: typeof (globalThis as { process?: unknown }).process,
    }));
    expect(globals).toEqual({ bridge: 'function', require: 'undefined', process: 'undefined' });
  });

  it('shows the panel through IPC', async () => {
    await page.waitForSelector('[data-kpi="available"]');
    await page.waitForSelector('[data-check="database"]');
    expect(await page.locator('.connection').innerText()).toMatch(/Motor integrado|Built-in engine/);
  });

  it('keeps the page from navigating away or opening windows', async () => {
    const before = page.url();
    await page.evaluate(() => {
      location.href = 'https://example.com/';
    });
    await page.waitForTimeout(300);
    expect(page.url()).toBe(before);
    expect(await page.evaluate(() => window.open('https://example.com/') === null)).toBe(true);
  });

  it('stays in the tray when the window is closed', async () => {
    await app.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows()[0]!.close());
    const windows = await app.evaluate(({ BrowserWindow }) =>
      BrowserWindow.getAllWindows().map((w) => w.isVisible()),
    );
    expect(windows).toEqual([false]);
  });
});
