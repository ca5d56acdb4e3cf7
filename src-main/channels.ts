import { OPERATIONS, type OperationName } from '../src-engine/contracts/operations.ts';
import {
  DESKTOP_CHANNELS,
  type PublicSettings,
  type SettingsPatch,
} from '../src-engine/contracts/desktop.ts';
import type { IpcRouter } from './ipc.ts';

export interface ChannelDeps {
  /** Runs an engine operation as the desktop user (the engine's guard applies, as over HTTP). */
  call(name: OperationName, input: unknown): Promise<unknown>;
  settings: { get(): PublicSettings; set(patch: SettingsPatch): PublicSettings };
}

/** Every engine operation under its own name, plus the desktop-only channels. */
export function registerChannels(router: IpcRouter, deps: ChannelDeps): void {
  for (const [name, op] of Object.entries(OPERATIONS) as [
    OperationName,
    (typeof OPERATIONS)[OperationName],
  ][]) {
    // Validated here against the operation's schema; the engine gets the raw input and parses it again.
    router.handle(name, op.input, (_parsed, raw) => deps.call(name, raw));
  }
  router.handle('settings:get', DESKTOP_CHANNELS['settings:get'].input, () => deps.settings.get());
  router.handle('settings:set', DESKTOP_CHANNELS['settings:set'].input, (patch) => deps.settings.set(patch));
}
