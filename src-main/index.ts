// Electron main: the composition root of the desktop. The engine runs in this process; the window
// is locked down; the decisions (IPC validation, tray state, alerts, updates, settings) live in
// plain modules beside this file, so this one only wires Electron to them.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  app,
  BrowserWindow,
  dialog,
  ipcMain,
  Menu,
  nativeImage,
  Notification,
  safeStorage,
  session,
  shell,
  Tray,
} from 'electron';
import electronUpdater from 'electron-updater';
import { loadConfig } from '../src-engine/config/index.ts';
import type { EngineEvent } from '../src-engine/contracts/events.ts';
import { createLogger } from '../src-engine/logger.ts';
import { desktopOrgId, runEngine, type RunningEngine } from '../src-engine/run.ts';
import trayGreen from '../resources/tray-green.png?inline';
import trayRed from '../resources/tray-red.png?inline';
import trayYellow from '../resources/tray-yellow.png?inline';
import { createAlertNotifier, createSeenAlerts } from './alert-notifier.ts';
import { EVENT_CHANNEL, READY_CHANNEL } from '../src-engine/contracts/desktop.ts';
import { registerChannels } from './channels.ts';
import { createEventRelay } from './event-relay.ts';
import { createIpcRouter, isOwnRenderer } from './ipc.ts';
import { createSettingsStore, type TextFile } from './settings-store.ts';
import { alertBody, mainText } from './text.ts';
import { trayColour, trayMenu, trayTooltip, type TrayColour, type TrayInputs } from './tray-state.ts';
import { startUpdates, updateSource } from './updater.ts';
import { applyWindowPolicy, isPermissionAllowed } from './window-policy.ts';

const TRAY_REFRESH_MS = 15_000;
/** Alerts arrive as events; the poll catches those raised while nobody listened. */
const ALERT_POLL_MS = 5 * 60_000;
// Inlined into the bundle as data URLs: nothing to locate on disk, packaged or not.
const TRAY_ICONS: Record<TrayColour, string> = { green: trayGreen, yellow: trayYellow, red: trayRed };

const log = createLogger('main');
let running: RunningEngine | undefined;
let mainWindow: BrowserWindow | undefined;
let quitting = false;

/** A file written whole or not at all (a crash mid-write leaves the previous version). */
function textFile(path: string): TextFile {
  return {
    read() {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    },
    write(text) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(`${path}.tmp`, text, { mode: 0o600 });
      renameSync(`${path}.tmp`, path);
    },
  };
}

/**
 * electron-vite's dev server in development; the packaged app loads only its own files (the page
 * gets the IPC bridge, so an environment variable must not be able to point it elsewhere).
 */
function rendererUrl(): string {
  const dev = app.isPackaged ? undefined : process.env.ELECTRON_RENDERER_URL;
  return dev ?? pathToFileURL(join(import.meta.dirname, '../renderer/index.html')).href;
}

function showWindow(): void {
  if (!mainWindow || mainWindow.isDestroyed()) mainWindow = createWindow();
  if (mainWindow.isMinimized()) mainWindow.restore();
  mainWindow.show();
  mainWindow.focus();
}

function createWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1280,
    height: 800,
    minWidth: 1024,
    minHeight: 700,
    show: false,
    title: 'Agencia Desk',
    webPreferences: {
      preload: join(import.meta.dirname, '../preload/index.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      webviewTag: false,
    },
  });
  applyWindowPolicy(win.webContents, {
    rendererUrl,
    openExternal: (url) => void shell.openExternal(url),
    log,
  });
  // Closing the window keeps the app in the tray; "Quit" in the tray menu quits.
  win.on('close', (e) => {
    if (quitting) return;
    e.preventDefault();
    win.hide();
  });
  win.once('ready-to-show', () => win.show());
  void win.loadURL(rendererUrl());
  return win;
}

async function start(): Promise<void> {
  const userData = app.getPath('userData');
  // The page's full URL (a file:// origin alone cannot tell our page from another file).
  session.defaultSession.setPermissionRequestHandler((wc, permission, callback, details) =>
    callback(isPermissionAllowed(permission, details.requestingUrl ?? wc.getURL(), rendererUrl())),
  );
  session.defaultSession.setPermissionCheckHandler((wc, permission, _origin, details) =>
    isPermissionAllowed(permission, details.requestingUrl ?? wc?.getURL(), rendererUrl()),
  );

  const settings = createSettingsStore({
    file: textFile(join(userData, 'desktop-settings.json')),
    box: {
      // Linux without a keyring falls back to a fixed key: that is no protection, so it counts as none.
      isEncryptionAvailable: () =>
        safeStorage.isEncryptionAvailable() &&
        (process.platform !== 'linux' || safeStorage.getSelectedStorageBackend() !== 'basic_text'),
      encryptString: (s) => safeStorage.encryptString(s),
      decryptString: (b) => safeStorage.decryptString(b),
    },
    onError: (err) => log.warn({ err }, 'desktop settings unreadable; using defaults'),
  });
  // The tray, notifications and dialogs speak the language chosen in the app (the OS's until then).
  const language = () => settings.get().language ?? app.getLocale();
  let text = mainText(language());
  /** Redraws the tray after a language change (set once the tray exists). */
  const redraw: { tray?: () => void } = {};
  // The environment wins over the settings, as it wins over config.json.
  const config = loadConfig({
    ...settings.engineEnv(),
    ...process.env,
    AGENCIA_DATA_DIR: process.env.AGENCIA_DATA_DIR || userData,
  });
  running = await runEngine(config, createLogger('engine', { level: config.logLevel }));
  const { engine } = running;
  const orgId = desktopOrgId(engine.db, 'Mi agencia');
  const token = engine.sessions.issue(orgId);

  const router = createIpcRouter({ ipcMain, rendererUrl, log });
  registerChannels(router, {
    call: (name, input) => engine.call(name, input, token),
    settings: {
      get: () => settings.get(),
      set(patch) {
        const saved = settings.set(patch);
        text = mainText(language());
        redraw.tray?.();
        return saved;
      },
    },
  });

  const relay = createEventRelay<EngineEvent>((event) => {
    if (mainWindow && !mainWindow.isDestroyed()) mainWindow.webContents.send(EVENT_CHANNEL, event);
  });
  // The same rule as the WebSocket: an org sees its own events only (job events name their payload's org).
  engine.events.on((event) => {
    if ('orgId' in event && event.orgId === orgId) relay.push(event);
  });
  ipcMain.on(READY_CHANNEL, (e) => {
    if (isOwnRenderer(e.senderFrame?.url, rendererUrl())) relay.ready();
  });

  mainWindow = createWindow();
  mainWindow.webContents.on('did-start-loading', () => relay.notReady());
  mainWindow.webContents.on('render-process-gone', () => relay.notReady());

  // Tray: the icon's colour is the engine's health; the menu opens, pauses sending, quits.
  const tray = new Tray(nativeImage.createFromDataURL(TRAY_ICONS.red));
  const state: TrayInputs = { health: undefined, bannedInstances: 0, sendingPaused: false };
  const render = () => {
    const colour = trayColour(state);
    tray.setImage(nativeImage.createFromDataURL(TRAY_ICONS[colour]));
    tray.setToolTip(trayTooltip(text, colour));
    tray.setContextMenu(
      Menu.buildFromTemplate(
        trayMenu(text, state).map((item) =>
          item.type === 'separator'
            ? { type: 'separator' }
            : {
                type: item.type,
                label: item.label,
                ...(item.type === 'checkbox' ? { checked: item.checked } : {}),
                click: () => void onTrayAction(item.action),
              },
        ),
      ),
    );
  };
  const onTrayAction = async (action: 'open' | 'toggle-pause' | 'quit') => {
    if (action === 'open') return showWindow();
    if (action === 'quit') return app.quit();
    if (state.sendingPaused) await engine.queue.resume('whatsapp.send');
    else await engine.queue.pause('whatsapp.send');
    await refreshTray();
  };
  const refreshTray = async () => {
    const [health, instances, counts] = await Promise.allSettled([
      engine.health(),
      engine.call('whatsapp:instances', {}, token),
      engine.queue.counts('whatsapp.send'),
    ]);
    state.health = health.status === 'fulfilled' ? health.value : undefined;
    if (instances.status === 'fulfilled') {
      state.bannedInstances = instances.value.items.filter((i) => i.health === 'BANNED').length;
    }
    if (counts.status === 'fulfilled') state.sendingPaused = counts.value.paused;
    render();
  };
  tray.on('click', showWindow);
  redraw.tray = render;
  render();
  void refreshTray();
  setInterval(() => void refreshTray(), TRAY_REFRESH_MS).unref();

  // Compliance alerts: one OS notification each, remembered across restarts.
  const notifier = createAlertNotifier({
    seen: createSeenAlerts(textFile(join(userData, 'notified-alerts.json'))),
    notify(alert) {
      if (!Notification.isSupported()) return;
      const n = new Notification({ title: text.alerts.title, body: alertBody(text, alert) });
      n.on('click', showWindow);
      n.show();
    },
  });
  const pollAlerts = () =>
    engine.call('compliance:alerts', { limit: 20 }, token).then(
      (page) => notifier.offer(page.items),
      (err: unknown) => log.warn({ err }, 'could not read alerts'),
    );
  void pollAlerts();
  setInterval(() => void pollAlerts(), ALERT_POLL_MS).unref();
  engine.events.on((event) => {
    if (event.type === 'alert.raised' && event.orgId === orgId) notifier.offer([event.alert]);
    if (event.type === 'instance.health' && event.orgId === orgId) void refreshTray();
  });

  // Auto-update: electron-updater verifies each download (sha512, and signatures where the OS has them).
  const source = updateSource(process.env, app.isPackaged, join(app.getAppPath(), 'dev-app-update.yml'));
  if (source.kind === 'off') log.info({ reason: source.reason }, 'auto-update off');
  else {
    const { autoUpdater } = electronUpdater;
    autoUpdater.logger = null;
    autoUpdater.autoDownload = true;
    autoUpdater.autoInstallOnAppQuit = true;
    if (source.kind === 'feed') autoUpdater.setFeedURL({ provider: 'generic', url: source.url });
    if (source.kind === 'dev') {
      autoUpdater.forceDevUpdateConfig = true;
      autoUpdater.updateConfigPath = source.configPath;
    }
    startUpdates({
      port: {
        check: () => autoUpdater.checkForUpdates(),
        onDownloaded: (fn) => void autoUpdater.on('update-downloaded', (info) => fn(info.version)),
        install: () => {
          quitting = true;
          autoUpdater.quitAndInstall();
        },
      },
      ask: async (version) => {
        const options = {
          type: 'info' as const,
          buttons: [text.update.restart, text.update.later],
          defaultId: 0,
          cancelId: 1,
          title: text.update.title,
          message: text.update.message(version),
          detail: text.update.detail,
        };
        const answer =
          mainWindow && !mainWindow.isDestroyed()
            ? await dialog.showMessageBox(mainWindow, options)
            : await dialog.showMessageBox(options);
        return answer.response === 0;
      },
      log,
    });
  }
}

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.on('second-instance', showWindow);
  app.on('activate', showWindow);
  // The tray keeps the app alive without windows.
  app.on('window-all-closed', () => {});
  app
    .whenReady()
    .then(start)
    .catch((err: unknown) => {
      log.fatal({ err }, 'start-up failed');
      dialog.showErrorBox(mainText(app.getLocale()).fatal, err instanceof Error ? err.message : String(err));
      app.exit(1);
    });
  app.on('before-quit', (event) => {
    quitting = true;
    if (!running) return;
    event.preventDefault();
    const r = running;
    running = undefined;
    void r.stop().finally(() => app.quit());
  });
}
