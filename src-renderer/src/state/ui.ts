import { create } from 'zustand';
import type { Branding } from '../../../src-engine/contracts/branding.ts';
import type { ConnectionState } from '../client/engine-client.ts';
import type { Locale } from '../format.ts';

export const SCREENS = [
  'panel',
  'whatsapp',
  'agents',
  'billing',
  'referrals',
  'dead-letters',
  'settings',
] as const;
export type Screen = (typeof SCREENS)[number];

const LANG_KEY = 'agencia.lang';

export function isScreen(s: string): s is Screen {
  return (SCREENS as readonly string[]).includes(s);
}

/** The screen named by a location hash (`#/whatsapp`), the panel by default. */
export function screenFromHash(hash: string): Screen {
  const name = hash.replace(/^#\/?/, '');
  return isScreen(name) ? name : 'panel';
}

function storedLang(): Locale {
  try {
    const v = globalThis.localStorage?.getItem(LANG_KEY);
    return v === 'en' ? 'en' : 'es';
  } catch {
    return 'es';
  }
}

interface UiState {
  lang: Locale;
  screen: Screen;
  connection: ConnectionState;
  /** White-label branding, when the plan allows it and one is set. */
  branding: Branding | null;
  setLang(lang: Locale): void;
  setScreen(screen: Screen): void;
  setConnection(state: ConnectionState): void;
  setBranding(branding: Branding | null): void;
}

export const useUi = create<UiState>()((set) => ({
  lang: storedLang(),
  screen: screenFromHash(globalThis.location?.hash ?? ''),
  connection: 'connecting',
  branding: null,
  setLang(lang) {
    try {
      globalThis.localStorage?.setItem(LANG_KEY, lang);
    } catch {
      // Storage may be disabled; the choice then lasts for this page only.
    }
    set({ lang });
  },
  setScreen: (screen) => set({ screen }),
  setConnection: (connection) => set({ connection }),
  setBranding: (branding) => set({ branding }),
}));
