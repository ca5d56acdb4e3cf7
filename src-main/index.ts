// Electron main: the engine runs in this process (composition root in src-engine), the window is
// locked down. Everything testable lives in src-engine and src-renderer; this file stays thin.
import { join } from 'node:path';
import { app, BrowserWindow, session, shell } from 'electron';
import { loadConfig } from '../src-engine/config/index.ts';
import { createLogger } from '../src-engine/logger.ts';
import { runEngine, type RunningEngine } from '../src-engine/run.ts';

let running: RunningEngine | undefined;

function createWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1280,
    height: 800,
    minWidth: 1024,
    minHeight: 700,
    title: 'Agencia Desk',
    webPreferences: {
      preload: join(import.meta.dirname, '../preload/index.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
    },
  });
  // No navigation away from the app and no new windows: external links open in the OS browser.
  win.webContents.on('will-navigate', (event) => event.preventDefault());
  win.webContents.setWindowOpenHandler(({ url }) => {
    if (url.startsWith('https://')) void shell.openExternal(url);
    return { action: 'deny' };
  });
  const devUrl = process.env.ELECTRON_RENDERER_URL;
  if (devUrl) void win.loadURL(devUrl);
  else void win.loadFile(join(import.meta.dirname, '../renderer/index.html'));
  return win;
}

app
  .whenReady()
  .then(async () => {
    session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
    const config = loadConfig({
      ...process.env,
      AGENCIA_DATA_DIR: process.env.AGENCIA_DATA_DIR || app.getPath('userData'),
    });
    running = await runEngine(config, createLogger('engine', { level: config.logLevel }));
    createWindow();
  })
  .catch((err: unknown) => {
    createLogger('main').fatal({ err }, 'start-up failed');
    app.exit(1);
  });

app.on('before-quit', (event) => {
  if (!running) return;
  event.preventDefault();
  const r = running;
  running = undefined;
  void r.stop().finally(() => app.quit());
});
