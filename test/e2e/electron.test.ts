// The desktop app as electron-vite builds it (into out/, built once here, so the tests that use out/
// are in this one file and never race a build):
// - booted under Node with a fake `electron` module (test/main/fake-electron-module.ts), so the
//   composition root's wiring (engine, IPC, window, tray, quit) is checked on any machine;
// - in a real Electron where a binary exists (ELECTRON_OVERRIDE_DIST_PATH, the folder electron's own
//   install script would fill). Elsewhere that part says why it did not run, and is reported as
//   skipped, never as passed;
// - `npm start` (scripts/start.sh) where there is no Electron binary: the same UI from the headless
//   engine, opened in Chromium at the address it prints.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'electron-vite';
import { _electron, type ElectronApplication, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asProduction, launchChromium } from './ui-world.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const MAIN_BUNDLE = join(ROOT, 'out/main/index.js');

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

let dir: string;
beforeAll(async () => {
  await asProduction(() => build({ root: ROOT, logLevel: 'warn' }));
  dir = mkdtempSync(join(tmpdir(), 'agencia-app-'));
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the main process, booted with a fake electron', () => {
  let outcome: {
    channels: string[];
    url: string;
    webPreferences: Record<string, unknown>;
    balance: unknown;
    foreign: unknown;
    invalid: unknown;
    secret: unknown;
    closePrevented: boolean;
    calls: string[];
  };

  beforeAll(() => {
    const child = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'test/main/boot-child.ts')], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 30_000,
      env: {
        ...process.env,
        MAIN_BUNDLE,
        FAKE_USER_DATA: dir,
        AGENCIA_DATA_DIR: join(dir, 'fake-data'),
        ENGINE_PORT: '0',
        LOG_LEVEL: 'silent',
        REDIS_URL: '',
        OLLAMA_URL: 'http://127.0.0.1:9',
        KOKORO_URL: 'http://127.0.0.1:9',
      },
    });
    const line = child.stdout.split('\n').find((l) => l.startsWith('{"channels"'));
    if (!line) throw new Error(`boot failed (${child.status}):\n${child.stdout}\n${child.stderr}`);
    outcome = JSON.parse(line) as typeof outcome;
  }, 40_000);

  it('opens a locked-down window on the built renderer', () => {
    expect(outcome.url).toMatch(/^file:\/\/.*\/out\/renderer\/index\.html$/);
    expect(outcome.webPreferences).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      webviewTag: false,
    });
    expect(outcome.webPreferences.preload).toMatch(/out\/preload\/index\.cjs$/);
    expect(outcome.calls).toEqual(expect.arrayContaining(['permissions.request', 'permissions.check']));
  });

  it('answers every engine operation and the settings over IPC, for our page only', () => {
    expect(outcome.channels).toEqual(
      expect.arrayContaining([
        'billing:balance',
        'dlq:retry',
        'settings:get',
        'settings:set',
        'on:renderer:ready',
      ]),
    );
    expect(outcome.balance).toMatchObject({ result: { availableMicro: 0, quota: { plan: { id: 'free' } } } });
    expect(outcome.foreign).toEqual({ error: { error: 'UNAUTHORIZED', message: 'Not our renderer' } });
    expect(outcome.invalid).toMatchObject({ error: { error: 'VALIDATION_ERROR' } });
    // This fake OS has no keyring: keys are refused, never stored in clear.
    expect(outcome.secret).toMatchObject({ error: { error: 'UNAVAILABLE' } });
  });

  it('shows a tray with its menu, hides the window on close, stops the engine on quit', () => {
    expect(outcome.calls).toContain('tray.menu Abrir Agencia Desk|Pausar envíos|-|Salir');
    expect(outcome.calls.some((c) => c.startsWith('tray data:image/png;base64'))).toBe(true);
    expect(outcome.closePrevented).toBe(true);
    expect(outcome.calls).toContain('window.hide');
    // The first quit waits for the engine to stop, then quits again.
    expect(outcome.calls.filter((c) => c === 'quit.deferred')).toHaveLength(1);
    expect(outcome.calls.filter((c) => c === 'app.quit')).toHaveLength(2);
  });
});

describe.skipIf(skipReason !== undefined)('the app in a real Electron', () => {
  let app: ElectronApplication;
  let page: Page;

  beforeAll(async () => {
    app = await _electron.launch({
      executablePath: binary!,
      // Chromium refuses its own sandbox as root (CI containers); the renderer's sandbox stays on.
      args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), MAIN_BUNDLE],
      env: {
        ...process.env,
        AGENCIA_DATA_DIR: join(dir, 'electron-data'),
        ENGINE_PORT: '0',
        LOG_LEVEL: 'silent',
      },
      timeout: 30_000,
    });
    page = await app.firstWindow();
    page.setDefaultTimeout(10_000);
  }, 60_000);

  afterAll(async () => {
    await app?.close();
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

describe('npm start without an Electron binary', () => {
  it('says why, serves the panel from the headless engine at the printed URL, stops on SIGTERM', async () => {
    const child = spawn('bash', [join(ROOT, 'scripts/start.sh')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        // An empty folder: the script must find no binary there, whatever this machine has.
        ELECTRON_OVERRIDE_DIST_PATH: join(dir, 'no-electron'),
        AGENCIA_DATA_DIR: join(dir, 'start-data'),
        ENGINE_PORT: '0',
        LOG_LEVEL: 'silent',
        REDIS_URL: '',
        OLLAMA_URL: 'http://127.0.0.1:9',
        KOKORO_URL: 'http://127.0.0.1:9',
      },
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const panelUrl = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        stdout += String(d);
        const m = /Control panel: (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/.exec(stdout);
        if (m) resolve(m[1]!);
      });
      void exited.then((code) => reject(new Error(`start.sh exited ${code}:\n${stdout}\n${stderr}`)));
    });
    try {
      expect(stdout).toContain(
        `Electron binary not available (no Electron executable in ELECTRON_OVERRIDE_DIST_PATH=${join(dir, 'no-electron')}); serving the same UI from the headless engine`,
      );
      const browser = await launchChromium();
      try {
        const page = await browser.newPage({ viewport: { width: 1024, height: 700 } });
        await page.goto(panelUrl);
        await page.waitForSelector('main[data-screen="panel"] [data-kpi="available"]', { timeout: 10_000 });
        await page.waitForSelector('[data-check="database"]', { timeout: 10_000 });
        expect(page.url()).not.toContain('token=');
      } finally {
        await browser.close();
      }
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stdout).toContain('Agencia Desk engine stopped');
  }, 60_000);
});
