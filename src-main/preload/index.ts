// The renderer's only door to the main process (sandboxed, context-isolated): one `invoke` for the
// engine's operations and the desktop channels, and the engine's event stream.
import { contextBridge, ipcRenderer } from 'electron';
import {
  CHANNEL_PATTERN,
  EVENT_CHANNEL,
  READY_CHANNEL,
  type DesktopBridge,
  type IpcReply,
} from '../../src-engine/contracts/desktop-bridge.ts';

const listeners = new Set<(event: unknown) => void>();
ipcRenderer.on(EVENT_CHANNEL, (_event, payload: unknown) => {
  for (const l of listeners) l(payload);
});

const bridge: DesktopBridge = {
  platform: process.platform,
  async invoke(channel, input): Promise<IpcReply> {
    if (typeof channel !== 'string' || !CHANNEL_PATTERN.test(channel)) {
      return { error: { error: 'VALIDATION_ERROR', message: 'Bad channel name' } };
    }
    try {
      return (await ipcRenderer.invoke(channel, input)) as IpcReply;
    } catch {
      // Only an unknown channel rejects: every handler answers {result} or {error}.
      return { error: { error: 'NOT_FOUND', message: `No channel ${channel}` } };
    }
  },
  onEvent(listener) {
    listeners.add(listener);
    return () => void listeners.delete(listener);
  },
  ready() {
    ipcRenderer.send(READY_CHANNEL);
  },
};

contextBridge.exposeInMainWorld('agencia', bridge);
