import { useState, type ChangeEvent, type FormEvent, type ReactNode } from 'react';
import type { Branding } from '../../../src-engine/contracts/branding.ts';
import { SMARTSEND_DEFAULTS } from '../../../src-engine/contracts/smartsend.ts';
import {
  SERVICES,
  SERVICES_WITH_SECRET,
  type DesktopBridge,
  type PublicSettings,
  type SettingsPatch,
} from '../../../src-engine/contracts/desktop.ts';
import { useBridge, useClient } from '../client/context.ts';
import { Async, Card, ErrorBox, Loading, useAction } from '../components/ui.tsx';
import type { Locale } from '../format.ts';
import { LOCALES, useT } from '../i18n/index.ts';
import { useSettings } from '../state/settings.ts';
import { useUi } from '../state/ui.ts';
import { useBranding, useBrandingRevision } from '../state/branding.ts';

function LanguageCard() {
  const t = useT();
  const { lang, setLang } = useUi();
  const bridge = useBridge();
  const save = useSettings((s) => s.save);
  const choose = (l: Locale) => {
    setLang(l);
    // In the desktop app the tray and notifications follow a language the user chose (the OS's until then).
    if (bridge) void save(bridge, { language: l });
  };
  return (
    <Card title={t.settings.language}>
      <label>
        {t.settings.language}
        <select value={lang} onChange={(e) => choose(e.target.value as Locale)} aria-describedby="lang-hint">
          {LOCALES.map((l) => (
            <option key={l} value={l}>
              {t.language[l]}
            </option>
          ))}
        </select>
      </label>
      <p className="hint" id="lang-hint">
        {t.settings.languageHint}
      </p>
    </Card>
  );
}

/** A settings form: saves one patch, then says so (or shows the readable error). */
function SettingsForm({
  bridge,
  label,
  patch,
  children,
}: {
  bridge: DesktopBridge;
  label: string;
  patch: () => SettingsPatch;
  children: ReactNode;
}) {
  const t = useT();
  const save = useSettings((s) => s.save);
  const [state, setState] = useState<'idle' | 'saving' | 'saved' | 'failed'>('idle');
  const error = useSettings((s) => s.error);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setState('saving');
    setState((await save(bridge, patch())) ? 'saved' : 'failed');
  };
  return (
    <form className="form" onSubmit={submit} aria-label={label}>
      {children}
      <button type="submit" disabled={state === 'saving'}>
        {state === 'saving' ? t.common.saving : t.common.save}
      </button>
      {state === 'saved' && (
        <span className="ok" role="status">
          {t.common.saved}
        </span>
      )}
      {state === 'failed' && error && <ErrorBox error={error} />}
    </form>
  );
}

function ServicesCard({ bridge, settings }: { bridge: DesktopBridge; settings: PublicSettings }) {
  const t = useT();
  const [urls, setUrls] = useState(() =>
    Object.fromEntries(SERVICES.map((s) => [s, settings.services[s].url ?? ''])),
  );
  const [secrets, setSecrets] = useState<Record<string, string | null>>({});
  const patch = (): SettingsPatch => ({
    services: Object.fromEntries(
      SERVICES.map((s) => {
        const secret = secrets[s];
        return [
          s,
          {
            url: urls[s]?.trim() ? urls[s].trim() : null,
            ...(secret === undefined || secret === '' ? {} : { secret }),
          },
        ];
      }),
    ),
  });
  return (
    <Card title={t.settings.services}>
      <p className="hint">{t.settings.servicesHint}</p>
      {!settings.secretsAvailable && <p className="warning">{t.settings.noSecureStorage}</p>}
      <SettingsForm bridge={bridge} label={t.settings.services} patch={patch}>
        {SERVICES.map((s) => (
          <fieldset key={s} className="service">
            <legend>{t.settings.service[s]}</legend>
            <label>
              {t.settings.url}
              <input
                type="text"
                value={urls[s]}
                onChange={(e) => setUrls({ ...urls, [s]: e.target.value })}
                spellCheck={false}
              />
            </label>
            {SERVICES_WITH_SECRET.includes(s) && (
              <label>
                {t.settings.secret}
                <input
                  type="password"
                  autoComplete="off"
                  value={secrets[s] ?? ''}
                  placeholder={settings.services[s].hasSecret ? t.settings.secretStored : ''}
                  onChange={(e) => setSecrets({ ...secrets, [s]: e.target.value })}
                  disabled={!settings.secretsAvailable}
                />
              </label>
            )}
            {settings.services[s].hasSecret && (
              <button type="button" onClick={() => setSecrets({ ...secrets, [s]: null })}>
                {t.settings.clearSecret}
              </button>
            )}
          </fieldset>
        ))}
      </SettingsForm>
    </Card>
  );
}

type Range = { min: number; max: number } | null;
const text = (n: number | undefined) => (n === undefined ? '' : String(n));
/** Two inputs as a range; both empty = the engine's default; one alone counts for both. */
function toRange(min: string, max: string): Range {
  if (!min.trim() && !max.trim()) return null;
  return { min: Number(min || max), max: Number(max || min) };
}

function RangeInputs({
  label,
  value,
  placeholder,
  onChange,
}: {
  label: string;
  value: [string, string];
  placeholder: [number, number];
  onChange: (v: [string, string]) => void;
}) {
  return (
    <fieldset className="range">
      <legend>{label}</legend>
      <input
        type="number"
        min={0}
        aria-label={`${label} (min)`}
        placeholder={String(placeholder[0])}
        value={value[0]}
        onChange={(e) => onChange([e.target.value, value[1]])}
      />
      <span aria-hidden="true">–</span>
      <input
        type="number"
        min={0}
        aria-label={`${label} (max)`}
        placeholder={String(placeholder[1])}
        value={value[1]}
        onChange={(e) => onChange([value[0], e.target.value])}
      />
    </fieldset>
  );
}

function PacingCard({ bridge, settings }: { bridge: DesktopBridge; settings: PublicSettings }) {
  const t = useT();
  const p = settings.pacing;
  const d = SMARTSEND_DEFAULTS;
  const [jitter, setJitter] = useState<[string, string]>([text(p.jitterS?.min), text(p.jitterS?.max)]);
  const [burst, setBurst] = useState<[string, string]>([text(p.burst?.min), text(p.burst?.max)]);
  const [pause, setPause] = useState<[string, string]>([
    text(p.burstPauseMin?.min),
    text(p.burstPauseMin?.max),
  ]);
  const [dailyCap, setDailyCap] = useState(text(p.dailyCap ?? undefined));
  const [quiet, setQuiet] = useState<[string, string]>([p.quietHours?.start ?? '', p.quietHours?.end ?? '']);
  const patch = (): SettingsPatch => ({
    pacing: {
      jitterS: toRange(...jitter),
      burst: toRange(...burst),
      burstPauseMin: toRange(...pause),
      dailyCap: dailyCap.trim() ? Number(dailyCap) : null,
      quietHours: quiet[0] || quiet[1] ? { start: quiet[0], end: quiet[1] } : null,
    },
  });
  return (
    <Card title={t.settings.pacing}>
      <p className="hint">{t.settings.pacingHint}</p>
      <SettingsForm bridge={bridge} label={t.settings.pacing} patch={patch}>
        <RangeInputs
          label={t.settings.jitter}
          value={jitter}
          placeholder={[d.jitter.minMs / 1000, d.jitter.maxMs / 1000]}
          onChange={setJitter}
        />
        <RangeInputs
          label={t.settings.burst}
          value={burst}
          placeholder={[d.burst.min, d.burst.max]}
          onChange={setBurst}
        />
        <RangeInputs
          label={t.settings.burstPause}
          value={pause}
          placeholder={[d.burstPause.minMs / 60_000, d.burstPause.maxMs / 60_000]}
          onChange={setPause}
        />
        <label>
          {t.settings.dailyCap}
          <input
            type="number"
            min={1}
            placeholder={String(d.dailyCap)}
            value={dailyCap}
            onChange={(e) => setDailyCap(e.target.value)}
          />
        </label>
        <div className="form-row">
          <label>
            {t.settings.quietStart}
            <input type="time" value={quiet[0]} onChange={(e) => setQuiet([e.target.value, quiet[1]])} />
          </label>
          <label>
            {t.settings.quietEnd}
            <input type="time" value={quiet[1]} onChange={(e) => setQuiet([quiet[0], e.target.value])} />
          </label>
        </div>
      </SettingsForm>
    </Card>
  );
}

/** Matches BrandingSchema's limit on the logo's data URL. */
const LOGO_MAX_CHARS = 48 * 1024;
const DEFAULT_ACCENT = '#2563eb';

function readDataUrl(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error ?? new Error('read failed'));
    reader.readAsDataURL(file);
  });
}

function BrandingForm({ initial, onSaved }: { initial: Branding | null; onSaved: () => void }) {
  const t = useT();
  const client = useClient();
  const [brand, setBrand] = useState<Branding>(
    initial ?? { name: '', accentColor: DEFAULT_ACCENT, logo: null },
  );
  const [tooBig, setTooBig] = useState(false);
  const save = useAction(() => client.call('branding:set', brand));
  const onLogo = async (e: ChangeEvent<HTMLInputElement>) => {
    const file = e.target.files?.[0];
    if (!file) return;
    const url = await readDataUrl(file);
    setTooBig(url.length > LOGO_MAX_CHARS);
    if (url.length <= LOGO_MAX_CHARS) setBrand({ ...brand, logo: url });
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (await save.run()) onSaved();
  };
  return (
    <form className="form" onSubmit={submit} aria-label={t.settings.whiteLabel}>
      <label>
        {t.settings.brandName}
        <input
          value={brand.name}
          required
          maxLength={60}
          onChange={(e) => setBrand({ ...brand, name: e.target.value })}
        />
      </label>
      <label>
        {t.settings.logo}
        <input type="file" accept="image/png,image/svg+xml" onChange={onLogo} />
      </label>
      {tooBig && <p className="warning">{t.settings.logoTooBig}</p>}
      {brand.logo && (
        <button type="button" onClick={() => setBrand({ ...brand, logo: null })}>
          {t.settings.removeLogo}
        </button>
      )}
      <label>
        {t.settings.accent}
        <input
          type="color"
          value={brand.accentColor}
          onChange={(e) => setBrand({ ...brand, accentColor: e.target.value })}
        />
      </label>
      <div className="brand-preview" aria-label={t.settings.preview}>
        {brand.logo && <img src={brand.logo} alt="" />}
        <span style={{ color: brand.accentColor }}>{brand.name || t.app.name}</span>
      </div>
      <button type="submit" disabled={save.pending}>
        {save.pending ? t.common.saving : t.common.save}
      </button>
      {save.result && !save.error && (
        <span className="ok" role="status">
          {t.common.saved}
        </span>
      )}
      {save.error && <ErrorBox error={save.error} />}
    </form>
  );
}

/** White label lives in the engine (per org, Partner plan only): it works in the browser too. */
function WhiteLabelCard() {
  const t = useT();
  const branding = useBranding();
  const changed = useBrandingRevision((s) => s.changed);
  return (
    <Card title={t.settings.whiteLabel}>
      <Async resource={branding}>
        {({ branding: current, allowed }) =>
          allowed ? (
            <>
              <p className="hint">{t.settings.whiteLabelHint}</p>
              <BrandingForm initial={current} onSaved={changed} />
            </>
          ) : (
            <p className="hint">{t.settings.whiteLabelPartner}</p>
          )
        }
      </Async>
    </Card>
  );
}

export function SettingsScreen() {
  const t = useT();
  const bridge = useBridge();
  const { settings, error, load } = useSettings();
  let desktop: ReactNode;
  if (!bridge) desktop = <p className="notice">{t.settings.browserOnly}</p>;
  else if (settings) {
    desktop = (
      <>
        <ServicesCard bridge={bridge} settings={settings} />
        <PacingCard bridge={bridge} settings={settings} />
      </>
    );
  } else if (error) desktop = <ErrorBox error={error} onRetry={() => void load(bridge)} />;
  else desktop = <Loading />;
  return (
    <div className="screen-grid">
      <LanguageCard />
      <WhiteLabelCard />
      {desktop}
    </div>
  );
}
