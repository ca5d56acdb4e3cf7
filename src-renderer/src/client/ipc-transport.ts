import type { DesktopBridge, IpcReply } from '../../../src-engine/contracts/desktop.ts';
import type { Transport } from './engine-client.ts';
import { errorFromBody, toClientError } from './errors.ts';

/** Unwraps the bridge's `{result}` / `{error}` into a value or a ClientError. */
export async function unwrapReply(reply: Promise<IpcReply>): Promise<unknown> {
  let r: IpcReply;
  try {
    r = await reply;
  } catch (err) {
    throw toClientError(err);
  }
  if ('error' in r) throw errorFromBody(r.error);
  return r.result;
}

/** Electron IPC through the preload bridge; the main process pushes events. */
export function createIpcTransport(bridge: DesktopBridge): Transport {
  return {
    kind: 'ipc',
    call: (name, input) => unwrapReply(bridge.invoke(name, input)),
    listen(onEvent, onState) {
      const off = bridge.onEvent(onEvent);
      // In-process engine: the stream is up as soon as the main process knows we listen.
      bridge.ready();
      onState('open');
      return off;
    },
  };
}
