// Stands in for the `electron` module when the built main bundle (out/main/index.js) runs under
// plain Node (see boot.test.ts): just enough of app, BrowserWindow, ipcMain, Tray... to boot, with
// every call recorded in `calls` for the test to read.
import { EventEmitter } from 'node:events';

export const calls: string[] = [];
const record = (...parts: unknown[]) => calls.push(parts.map(String).join(' '));

class App extends EventEmitter {
  isPackaged = false;
  whenReady = () => Promise.resolve();
  getPath = () => process.env.FAKE_USER_DATA!;
  getLocale = () => 'es-ES';
  getAppPath = () => process.cwd();
  requestSingleInstanceLock = () => true;
  quit = () => {
    record('app.quit');
    this.emit('before-quit', { preventDefault: () => record('quit.deferred') });
  };
  exit = (code: number) => process.exit(code);
}
export const app = new App();

class WebContents extends EventEmitter {
  url = '';
  setWindowOpenHandler = (h: (d: { url: string }) => unknown) => record('openHandler', typeof h);
  send = (channel: string) => record('send', channel);
  getURL = () => this.url;
}
export class BrowserWindow extends EventEmitter {
  static all: BrowserWindow[] = [];
  webContents = new WebContents();
  constructor(readonly options: { webPreferences: Record<string, unknown> }) {
    super();
    BrowserWindow.all.push(this);
    record('window', JSON.stringify(options.webPreferences));
  }
  loadURL = (url: string) => {
    this.webContents.url = url;
    setTimeout(() => this.emit('ready-to-show'), 1);
    return Promise.resolve();
  };
  show = () => record('window.show');
  hide = () => record('window.hide');
  focus = () => {};
  restore = () => {};
  isDestroyed = () => false;
  isMinimized = () => false;
}
export const ipcMain = {
  handlers: new Map<string, (...args: unknown[]) => unknown>(),
  handle(channel: string, fn: (...args: unknown[]) => unknown) {
    this.handlers.set(channel, fn);
  },
  on(channel: string, fn: (...args: unknown[]) => unknown) {
    this.handlers.set(`on:${channel}`, fn);
  },
};
export const Menu = { buildFromTemplate: (items: { label?: string }[]) => ({ items }) };
export const nativeImage = { createFromDataURL: (url: string) => ({ url }) };
export class Notification extends EventEmitter {
  static isSupported = () => true;
  constructor(o: { body: string }) {
    super();
    record('notification', o.body);
  }
  show = () => {};
}
export const safeStorage = {
  isEncryptionAvailable: () => false,
  getSelectedStorageBackend: () => 'basic_text',
  encryptString: () => Buffer.alloc(0),
  decryptString: () => '',
};
export const session = {
  defaultSession: {
    setPermissionRequestHandler: () => record('permissions.request'),
    setPermissionCheckHandler: () => record('permissions.check'),
  },
};
export const shell = { openExternal: (url: string) => record('openExternal', url) };
export class Tray extends EventEmitter {
  constructor(image: { url: string }) {
    super();
    record('tray', image.url.slice(0, 22));
  }
  setImage = () => {};
  setToolTip = (t: string) => record('tray.tooltip', t);
  setContextMenu = (m: { items: { label?: string }[] }) =>
    record('tray.menu', m.items.map((i) => i.label ?? '-').join('|'));
}
export const dialog = {
  showErrorBox: (title: string, body: string) => record('errorBox', title, body),
  showMessageBox: async () => ({ response: 1 }),
};
export default {
  app,
  BrowserWindow,
  ipcMain,
  Menu,
  nativeImage,
  Notification,
  safeStorage,
  session,
  shell,
  Tray,
  dialog,
};
