// The desktop's service settings: addresses in a JSON file, keys encrypted by the OS (Electron
// safeStorage: Keychain, DPAPI, libsecret/kwallet). A key is never written in clear, never sent back
// to the renderer and never logged; when the OS offers no encryption, keys are refused.
import { z } from 'zod';
import { AppError, parseOrThrow } from '../src-engine/errors.ts';
import {
  DEFAULT_PACING,
  LanguageSchema,
  PacingSchema,
  SERVICES,
  SERVICES_WITH_SECRET,
  SERVICE_SETTINGS,
  SettingsPatchSchema,
  type Pacing,
  type PublicSettings,
  type ServiceId,
  type SettingsPatch,
} from '../src-engine/contracts/desktop.ts';

/** Electron's safeStorage, as far as this module uses it. */
export interface SecretBox {
  /** false also when the only "encryption" is plain obfuscation (Linux without a keyring). */
  isEncryptionAvailable(): boolean;
  encryptString(plain: string): Buffer;
  decryptString(encrypted: Buffer): string;
}

export interface TextFile {
  read(): string | undefined;
  write(text: string): void;
}

const StoredSchema = z.object({
  services: z
    .partialRecord(z.enum(SERVICES), z.object({ url: z.string().optional(), secret: z.string().optional() }))
    .default({}),
  pacing: PacingSchema.default(DEFAULT_PACING),
  language: LanguageSchema.optional(),
});
type Stored = z.infer<typeof StoredSchema>;

/** The engine's configuration variable for each service's address and key. */
const ENV_NAMES: Record<ServiceId, { url: string; secret?: string }> = {
  ollama: { url: 'OLLAMA_URL' },
  kokoro: { url: 'KOKORO_URL' },
  evolution: { url: 'EVOLUTION_URL', secret: 'EVOLUTION_API_KEY' },
  chatwoot: { url: 'CHATWOOT_URL', secret: 'CHATWOOT_TOKEN' },
  ledger: { url: 'LEDGER_URL', secret: 'LEDGER_TOKEN' },
  docker: { url: 'DOCKER_HOST' },
};

/** The pacing as the engine's `SMARTSEND_*` strings (see src-engine/contracts/smartsend.ts). */
export function pacingEnv(p: Pacing): Record<string, string> {
  const env: Record<string, string> = {};
  if (p.jitterS) env.SMARTSEND_JITTER_MS = `${p.jitterS.min * 1000}-${p.jitterS.max * 1000}`;
  if (p.burst) env.SMARTSEND_BURST = `${p.burst.min}-${p.burst.max}`;
  if (p.burstPauseMin) {
    env.SMARTSEND_BURST_PAUSE_MS = `${p.burstPauseMin.min * 60_000}-${p.burstPauseMin.max * 60_000}`;
  }
  if (p.dailyCap !== null) env.SMARTSEND_DAILY_CAP = String(p.dailyCap);
  if (p.quietHours) env.SMARTSEND_QUIET_HOURS = `${p.quietHours.start}-${p.quietHours.end}`;
  return env;
}

export interface SettingsStore {
  get(): PublicSettings;
  set(patch: SettingsPatch): PublicSettings;
  /** The settings as engine configuration variables (keys decrypted), for `loadConfig`. */
  engineEnv(): Record<string, string>;
}

export function createSettingsStore(deps: {
  file: TextFile;
  box: SecretBox;
  onError?: (err: unknown) => void;
}): SettingsStore {
  const { file, box } = deps;
  let stored: Stored;
  try {
    stored = StoredSchema.parse(JSON.parse(file.read() ?? '{}'));
  } catch (err) {
    // A damaged file is set aside rather than crashing the app; the user sees empty settings.
    deps.onError?.(err);
    stored = StoredSchema.parse({});
  }

  const publicView = (): PublicSettings => ({
    services: Object.fromEntries(
      SERVICES.map((s) => [
        s,
        { url: stored.services[s]?.url ?? null, hasSecret: !!stored.services[s]?.secret },
      ]),
    ) as PublicSettings['services'],
    pacing: stored.pacing,
    language: stored.language ?? null,
    secretsAvailable: box.isEncryptionAvailable(),
  });

  const decrypt = (s: ServiceId): string | undefined => {
    const secret = stored.services[s]?.secret;
    if (!secret) return undefined;
    try {
      return box.decryptString(Buffer.from(secret, 'base64'));
    } catch (err) {
      // Encrypted under another OS account or keyring: as good as not set.
      deps.onError?.(err);
      return undefined;
    }
  };

  return {
    get: publicView,
    set(input) {
      const patch = parseOrThrow(SettingsPatchSchema, input, 'settings');
      const next: Stored = structuredClone(stored);
      for (const [s, change] of Object.entries(patch.services ?? {}) as [
        ServiceId,
        NonNullable<NonNullable<SettingsPatch['services']>[ServiceId]>,
      ][]) {
        const entry = (next.services[s] ??= {});
        if (change.url !== undefined) {
          if (change.url === null || change.url === '') delete entry.url;
          else entry.url = change.url;
        }
        if (change.secret !== undefined) {
          if (change.secret === null) delete entry.secret;
          else {
            if (!SERVICES_WITH_SECRET.includes(s)) {
              throw new AppError('VALIDATION_ERROR', `${s} takes no key`, {
                issues: [{ path: ['services', s, 'secret'] }],
              });
            }
            if (!box.isEncryptionAvailable()) {
              throw new AppError('UNAVAILABLE', 'The operating system offers no encrypted storage for keys');
            }
            entry.secret = box.encryptString(change.secret).toString('base64');
          }
        }
      }
      if (patch.pacing) next.pacing = patch.pacing;
      if (patch.language) next.language = patch.language;
      file.write(JSON.stringify(next, null, 2));
      stored = next;
      return publicView();
    },
    engineEnv() {
      const env: Record<string, string> = {};
      // A value the engine would refuse (saved by an older version) would stop every start, with the
      // Settings screen that could mend it inside the app that does not start: it is left out.
      const usable = (s: ServiceId, what: 'url' | 'secret', value: string) => {
        if (SERVICE_SETTINGS[s][what].safeParse(value).success) return true;
        deps.onError?.(new Error(`The saved ${what} of ${s} is not one the engine takes: left out`));
        return false;
      };
      for (const s of SERVICES) {
        const names = ENV_NAMES[s];
        const url = stored.services[s]?.url;
        if (url && usable(s, 'url', url)) env[names.url] = url;
        const secret = names.secret && decrypt(s);
        if (names.secret && secret && usable(s, 'secret', secret)) env[names.secret] = secret;
      }
      return { ...env, ...pacingEnv(stored.pacing) };
    },
  };
}
