// The desktop-only contract between the Electron main process and the renderer, beyond the
// engine's own operations (operations.ts): the zod schemas of the desktop-only channels (the
// service settings the main process keeps), and the preload bridge (desktop-bridge.ts).
// Plain zod, no electron: main and renderer both import it.
import { z } from 'zod';
import { QuietHoursSchema } from './smartsend.ts';
import { HttpServiceUrlSchema, LedgerTokenSchema, NO_CREDENTIALS, withoutCredentials } from './common.ts';

export {
  CHANNEL_PATTERN,
  EVENT_CHANNEL,
  READY_CHANNEL,
  type DesktopBridge,
  type IpcReply,
} from './desktop-bridge.ts';

export const SERVICES = ['ollama', 'kokoro', 'evolution', 'chatwoot', 'ledger', 'docker'] as const;
export const ServiceIdSchema = z.enum(SERVICES);
export type ServiceId = z.infer<typeof ServiceIdSchema>;
/** Services that take a key or token besides their address. */
export const SERVICES_WITH_SECRET: readonly ServiceId[] = ['evolution', 'chatwoot', 'ledger'];

const setting = (schema: z.ZodType<string, string>) => z.string().trim().max(500).pipe(schema);
const KeySchema = z.string().min(1).max(500);

/**
 * What each service's address and key may be: what the engine's configuration accepts for them
 * (config/index.ts), so a setting saved here never stops the next start.
 */
export const SERVICE_SETTINGS = {
  ollama: { url: setting(HttpServiceUrlSchema), secret: KeySchema },
  kokoro: { url: setting(HttpServiceUrlSchema), secret: KeySchema },
  evolution: { url: setting(HttpServiceUrlSchema), secret: KeySchema },
  chatwoot: { url: setting(HttpServiceUrlSchema), secret: KeySchema },
  ledger: { url: setting(HttpServiceUrlSchema), secret: LedgerTokenSchema.max(500) },
  docker: {
    url: setting(
      z
        .string()
        .regex(
          /^(https?|tcp|unix|npipe|ssh):\/\/\S+$/,
          'tcp://, unix://, npipe://, ssh:// or http(s):// address',
        )
        .refine(withoutCredentials, NO_CREDENTIALS),
    ),
    secret: KeySchema,
  },
} as const satisfies Record<ServiceId, { url: z.ZodType<string, string>; secret: z.ZodType<string, string> }>;

const serviceChange = (s: ServiceId) =>
  z
    .object({
      url: SERVICE_SETTINGS[s].url.nullable().optional(),
      secret: SERVICE_SETTINGS[s].secret.nullable().optional(),
    })
    .strict()
    .optional();

const range = (min: number, max: number) =>
  z
    .object({ min: z.number().int().min(min).max(max), max: z.number().int().min(min).max(max) })
    .strict()
    .refine((r) => r.min <= r.max, { message: 'min ≤ max', path: ['max'] });

/**
 * SmartSend pacing in the units people think in; the main process turns it into the engine's
 * `SMARTSEND_*` settings (see settings-store.ts). null = the engine's default.
 */
export const PacingSchema = z
  .object({
    /** Seconds between two messages of one number. */
    jitterS: range(1, 600).nullable(),
    /** Messages in a burst before a longer pause. */
    burst: range(1, 10_000).nullable(),
    /** Minutes of that pause. */
    burstPauseMin: range(0, 1440).nullable(),
    /** Messages per number and day once warmed up. */
    dailyCap: z.number().int().min(1).max(1_000_000).nullable(),
    /** No sending between these local times (wraps midnight). */
    quietHours: QuietHoursSchema.nullable(),
  })
  .strict();
export type Pacing = z.infer<typeof PacingSchema>;

export const DEFAULT_PACING: Pacing = {
  jitterS: null,
  burst: null,
  burstPauseMin: null,
  dailyCap: null,
  quietHours: null,
};

/** The languages of the desktop's own words (the UI, the tray, notifications). */
export const LanguageSchema = z.enum(['es', 'en']);

/** What the renderer sees: secrets only as "one is stored", never their value. */
export const PublicSettingsSchema = z.object({
  services: z.record(ServiceIdSchema, z.object({ url: z.string().nullable(), hasSecret: z.boolean() })),
  pacing: PacingSchema,
  /** The language chosen in the app, which the tray and notifications follow; null: never chosen (the OS's). */
  language: LanguageSchema.nullable(),
  /** false when the OS offers no encrypted storage: secrets are then refused, never kept in clear. */
  secretsAvailable: z.boolean(),
});
export type PublicSettings = z.infer<typeof PublicSettingsSchema>;

/** A change: `url`/`secret` null clears it, absent leaves it. */
export const SettingsPatchSchema = z
  .object({
    services: z
      .object({
        ollama: serviceChange('ollama'),
        kokoro: serviceChange('kokoro'),
        evolution: serviceChange('evolution'),
        chatwoot: serviceChange('chatwoot'),
        ledger: serviceChange('ledger'),
        docker: serviceChange('docker'),
      })
      .strict()
      .optional(),
    pacing: PacingSchema.optional(),
    language: LanguageSchema.optional(),
  })
  .strict();
export type SettingsPatch = z.input<typeof SettingsPatchSchema>;

/** The desktop-only channels, with the same shape as the engine's operations. */
export const DESKTOP_CHANNELS = {
  'settings:get': { input: z.object({}).strict(), output: PublicSettingsSchema },
  'settings:set': { input: SettingsPatchSchema, output: PublicSettingsSchema },
} as const;
export type DesktopChannel = keyof typeof DESKTOP_CHANNELS;
