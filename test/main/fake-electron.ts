// A minimal fake of the parts of Electron that src-main's modules touch: ipcMain's invoke handlers,
// a webContents' navigation hooks, safeStorage. Only the boundary is faked; the modules are real.
import type { IpcMainInvokeEvent } from 'electron';
import type { DesktopBridge, IpcReply } from '../../src-engine/contracts/desktop.ts';
import type { IpcMainLike } from '../../src-main/ipc.ts';
import type { SecretBox, TextFile } from '../../src-main/settings-store.ts';
import type { WebContentsLike } from '../../src-main/window-policy.ts';

export const RENDERER_URL = 'file:///opt/Agencia%20Desk/resources/app.asar/out/renderer/index.html';

type Listener = (event: IpcMainInvokeEvent, ...args: unknown[]) => unknown;

/** ipcMain.handle, and a way to invoke a channel as a given frame would. */
export function fakeIpcMain() {
  const handlers = new Map<string, Listener>();
  const ipcMain: IpcMainLike = {
    handle(channel, listener) {
      if (handlers.has(channel)) throw new Error(`second handler for ${channel}`);
      handlers.set(channel, listener);
    },
  };
  return {
    ipcMain,
    handlers,
    /** Like ipcRenderer.invoke from a frame at `frameUrl` (null: a frame that is gone). */
    async invoke(channel: string, input: unknown, frameUrl: string | null = `${RENDERER_URL}#/panel`) {
      const handler = handlers.get(channel);
      if (!handler) throw new Error(`No handler registered for '${channel}'`);
      const event = {
        senderFrame: frameUrl === null ? null : { url: frameUrl },
      } as unknown as IpcMainInvokeEvent;
      // Electron passes arguments through the structured clone algorithm.
      return handler(event, structuredClone(input)) as Promise<IpcReply>;
    },
  };
}

/** The preload bridge over the fake ipcMain, as src-main/preload/index.ts builds it over ipcRenderer. */
export function bridgeOver(fake: ReturnType<typeof fakeIpcMain>): DesktopBridge {
  return {
    platform: 'linux',
    async invoke(channel, input) {
      try {
        return await fake.invoke(channel, input);
      } catch {
        return { error: { error: 'NOT_FOUND', message: `No channel ${channel}` } };
      }
    },
    onEvent: () => () => {},
    ready: () => {},
  };
}

/** A webContents that records its hooks and lets a test fire them. */
export function fakeWebContents() {
  const listeners = new Map<string, ((e: { preventDefault(): void }, url?: string) => void)[]>();
  let openHandler: ((d: { url: string }) => { action: 'deny' }) | undefined;
  const contents: WebContentsLike = {
    on(event: string, listener: (e: { preventDefault(): void }, url: string) => void) {
      listeners.set(event, [...(listeners.get(event) ?? []), listener as never]);
      return contents;
    },
    setWindowOpenHandler(h) {
      openHandler = h;
    },
  };
  return {
    contents,
    /** Fires `event`; true when a listener called preventDefault(). */
    fire(event: string, url?: string): boolean {
      let prevented = false;
      for (const l of listeners.get(event) ?? []) l({ preventDefault: () => void (prevented = true) }, url);
      return prevented;
    },
    open: (url: string) => openHandler!({ url }),
  };
}

/** safeStorage: a reversible "encryption" that never leaves the plain text in the output. */
export function fakeSafeStorage(available = true): SecretBox & { calls: number } {
  const box = {
    calls: 0,
    isEncryptionAvailable: () => available,
    encryptString(plain: string) {
      box.calls++;
      return Buffer.from(`enc:${Buffer.from(plain).toString('hex')}`);
    },
    decryptString(encrypted: Buffer) {
      const s = encrypted.toString();
      if (!s.startsWith('enc:'))
        throw new Error('Error while decrypting the ciphertext provided to safeStorage.decryptString.');
      return Buffer.from(s.slice(4), 'hex').toString();
    },
  };
  return box;
}

export function memoryFile(initial?: string): TextFile & { text: string | undefined; writes: number } {
  const f = {
    text: initial,
    writes: 0,
    read: () => f.text,
    write(t: string) {
      f.text = t;
      f.writes++;
    },
  };
  return f;
}
