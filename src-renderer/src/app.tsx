import { useEffect, useRef, type ComponentType } from 'react';
import { useBridge, useClient } from './client/context.ts';
import { useT } from './i18n/index.ts';
import { AgentsScreen } from './screens/agents.tsx';
import { BillingScreen } from './screens/billing.tsx';
import { DeadLettersScreen } from './screens/dead-letters.tsx';
import { PanelScreen } from './screens/panel.tsx';
import { ReferralsScreen } from './screens/referrals.tsx';
import { SettingsScreen } from './screens/settings.tsx';
import { WhatsAppScreen } from './screens/whatsapp.tsx';
import { AgentRunsTracker } from './state/agent-runs.tsx';
import { useSettings } from './state/settings.ts';
import { SCREENS, screenFromHash, useUi, type Screen } from './state/ui.ts';
import { useBranding } from './state/branding.ts';

const VIEWS: Record<Screen, ComponentType> = {
  panel: PanelScreen,
  whatsapp: WhatsAppScreen,
  agents: AgentsScreen,
  billing: BillingScreen,
  referrals: ReferralsScreen,
  'dead-letters': DeadLettersScreen,
  settings: SettingsScreen,
};

const NAV_KEY: Record<
  Screen,
  'panel' | 'whatsapp' | 'agents' | 'billing' | 'referrals' | 'deadLetters' | 'settings'
> = {
  panel: 'panel',
  whatsapp: 'whatsapp',
  agents: 'agents',
  billing: 'billing',
  referrals: 'referrals',
  'dead-letters': 'deadLetters',
  settings: 'settings',
};

/** Keeps the screen and the location hash in step (`#/billing`), so reloads and links keep the screen. */
function useHashRouting() {
  const { screen, setScreen } = useUi();
  useEffect(() => {
    const onHash = () => setScreen(screenFromHash(location.hash));
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, [setScreen]);
  useEffect(() => {
    if (screenFromHash(location.hash) !== screen) location.hash = `#/${screen}`;
  }, [screen]);
}

/** Alt+1…7 switch screens from anywhere. */
function useShortcuts() {
  const setScreen = useUi((s) => s.setScreen);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (!e.altKey || e.ctrlKey || e.metaKey) return;
      const screen = SCREENS[Number(e.key) - 1];
      if (screen) {
        e.preventDefault();
        setScreen(screen);
      }
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, [setScreen]);
}

/** White-label branding (Partner plan): the sidebar shows it and the accent colour follows it. */
function useApplyBranding() {
  const { data } = useBranding();
  const setBranding = useUi((s) => s.setBranding);
  const branding = data?.allowed ? data.branding : null;
  useEffect(() => {
    setBranding(branding);
    // CSSOM, not a style attribute: allowed by the page's strict CSP.
    if (branding) document.documentElement.style.setProperty('--accent', branding.accentColor);
    else document.documentElement.style.removeProperty('--accent');
  }, [branding, setBranding]);
}

/**
 * The desktop settings (services, pacing) are loaded once, in Electron only. A language the user chose
 * (Settings saves it there, for the tray and notifications too) is the UI's; until one is chosen the
 * UI has its own default and the tray the OS's language.
 */
function useDesktopSettings() {
  const bridge = useBridge();
  const load = useSettings((s) => s.load);
  const chosen = useSettings((s) => s.settings?.language ?? null);
  const setLang = useUi((s) => s.setLang);
  useEffect(() => {
    if (bridge) void load(bridge);
  }, [bridge, load]);
  useEffect(() => {
    if (chosen) setLang(chosen);
  }, [chosen, setLang]);
}

function Sidebar() {
  const t = useT();
  const client = useClient();
  const { screen, setScreen, connection, branding } = useUi();
  const connectionText = client.kind === 'ipc' ? t.connection.ipc : t.connection[connection];
  return (
    <aside className="sidebar">
      <div className="brand">
        {branding?.logo && <img src={branding.logo} alt="" />}
        <span>{branding?.name ?? t.app.name}</span>
      </div>
      <nav aria-label={t.app.mainNav}>
        <ul>
          {SCREENS.map((s, i) => (
            <li key={s}>
              <button
                type="button"
                className="nav-item"
                aria-current={s === screen ? 'page' : undefined}
                aria-keyshortcuts={`Alt+${i + 1}`}
                onClick={() => setScreen(s)}
                data-screen={s}
              >
                {t.nav[NAV_KEY[s]]}
              </button>
            </li>
          ))}
        </ul>
      </nav>
      <p className={`connection connection-${connection}`} role="status">
        <span className="dot" aria-hidden="true" />
        {connectionText}
      </p>
      <p className="hint shortcuts">{t.app.shortcutsHint}</p>
    </aside>
  );
}

export function App() {
  const t = useT();
  const lang = useUi((s) => s.lang);
  const screen = useUi((s) => s.screen);
  const heading = useRef<HTMLHeadingElement>(null);
  const first = useRef(true);
  useHashRouting();
  useShortcuts();
  useApplyBranding();
  useDesktopSettings();
  useEffect(() => {
    document.documentElement.lang = lang;
  }, [lang]);
  // Moving to another screen moves the keyboard focus to its title (not on first load).
  useEffect(() => {
    if (first.current) first.current = false;
    else heading.current?.focus();
  }, [screen]);
  const View = VIEWS[screen];
  return (
    <div className="app">
      <a
        className="skip"
        href="#content"
        onClick={(e) => {
          // The hash is the screen's address: focus the content without touching it.
          e.preventDefault();
          heading.current?.focus();
        }}
      >
        {t.app.skipToContent}
      </a>
      <Sidebar />
      <main id="content" className="content" data-screen={screen}>
        <h1 ref={heading} tabIndex={-1}>
          {t.nav[NAV_KEY[screen]]}
        </h1>
        <View />
      </main>
      <AgentRunsTracker />
    </div>
  );
}
