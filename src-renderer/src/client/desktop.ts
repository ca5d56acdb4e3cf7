import {
  DESKTOP_CHANNELS,
  type DesktopBridge,
  type DesktopChannel,
} from '../../../src-engine/contracts/desktop.ts';
import type { z } from 'zod';
import { ClientError } from './errors.ts';
import { unwrapReply } from './ipc-transport.ts';

type Channel = (typeof DESKTOP_CHANNELS)[DesktopChannel];

/** Calls a desktop-only channel (settings…) through the bridge, checking the answer's shape. */
export async function callDesktop<C extends DesktopChannel>(
  bridge: DesktopBridge,
  channel: C,
  input: z.input<(typeof DESKTOP_CHANNELS)[C]['input']>,
): Promise<z.output<(typeof DESKTOP_CHANNELS)[C]['output']>> {
  const spec: Channel = DESKTOP_CHANNELS[channel];
  const out = spec.output.safeParse(await unwrapReply(bridge.invoke(channel, input)));
  if (!out.success) {
    throw new ClientError({ error: 'INTERNAL_ERROR', message: `Invalid answer on ${channel}` });
  }
  return out.data as z.output<(typeof DESKTOP_CHANNELS)[C]['output']>;
}
