import { create } from 'zustand';
import type { DesktopBridge, PublicSettings, SettingsPatch } from '../../../src-engine/contracts/desktop.ts';
import { callDesktop } from '../client/desktop.ts';
import { toClientError, type ClientError } from '../client/errors.ts';

interface SettingsState {
  settings: PublicSettings | undefined;
  error: ClientError | undefined;
  load(bridge: DesktopBridge): Promise<void>;
  /** Saves a change; resolves true when stored, false with `error` set otherwise. */
  save(bridge: DesktopBridge, patch: SettingsPatch): Promise<boolean>;
}

/** The desktop settings (kept by the main process); loaded once, shared by every screen. */
export const useSettings = create<SettingsState>()((set) => ({
  settings: undefined,
  error: undefined,
  async load(bridge) {
    try {
      set({ settings: await callDesktop(bridge, 'settings:get', {}), error: undefined });
    } catch (err) {
      set({ error: toClientError(err) });
    }
  },
  async save(bridge, patch) {
    try {
      set({ settings: await callDesktop(bridge, 'settings:set', patch), error: undefined });
      return true;
    } catch (err) {
      set({ error: toClientError(err) });
      return false;
    }
  },
}));
