import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import {
  BurstEnvSchema,
  BurstPauseEnvSchema,
  DailyCapEnvSchema,
  JitterEnvSchema,
  QuietHoursEnvSchema,
  SmartSendSettingsSchema,
  type SmartSendSettings,
} from '../contracts/smartsend.ts';
import { HttpServiceUrlSchema, LedgerTokenSchema, numberFromText } from '../contracts/common.ts';
import { parseCredits } from '../ledger/money.ts';

const port = z.number().int().min(0).max(65535);
const url = z.url({ protocol: /^(https?|redis|rediss|unix|tcp)$/ });
const parsesAsCredits = (text: string) => {
  try {
    parseCredits(text);
    return true;
  } catch {
    return false;
  }
};

/**
 * Every setting, by the name of its environment variable. The same names are accepted as keys
 * of the JSON config file; the environment wins over the file. `secret` values never reach logs.
 */
export const CONFIG_VARS = {
  AGENCIA_DATA_DIR: {
    schema: z.string().min(1).optional(),
    doc: "Data folder (database, logs). Default: the OS's app-data folder + 'Agencia Desk'.",
  },
  AGENCIA_CONFIG: {
    schema: z.string().min(1).optional(),
    doc: 'JSON config file. Default: <data dir>/config.json if present.',
  },
  ENGINE_HOST: { schema: z.string().min(1).default('127.0.0.1'), doc: 'Address the local API listens on.' },
  ENGINE_PORT: {
    schema: numberFromText(port.default(7420)),
    doc: 'Port of the local API (0 = any free port).',
  },
  REDIS_URL: {
    schema: url.optional(),
    secret: true,
    doc: 'Redis/Valkey for the `bullmq` queue backend; unset = the embedded SQLite queue.',
  },
  LOG_LEVEL: {
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    doc: 'pino log level.',
  },
  QUEUE_LEASE_MS: {
    schema: numberFromText(z.number().int().min(1000).max(600_000).default(30_000)),
    doc: 'How long a running job is leased before another worker may take it (crash recovery).',
  },
  OLLAMA_URL: { schema: HttpServiceUrlSchema.default('http://127.0.0.1:11434'), doc: 'Ollama (local LLM).' },
  KOKORO_URL: {
    schema: HttpServiceUrlSchema.default('http://127.0.0.1:8880'),
    doc: 'Kokoro-FastAPI (local voice).',
  },
  EVOLUTION_URL: {
    schema: HttpServiceUrlSchema.optional(),
    doc: 'Evolution API v2 (WhatsApp). Unset = WhatsApp disabled.',
  },
  CHATWOOT_URL: { schema: HttpServiceUrlSchema.optional(), doc: 'Chatwoot for human handoff (optional).' },
  CHATWOOT_TOKEN: {
    schema: z.string().min(1).optional(),
    secret: true,
    doc: 'Chatwoot user access token (`api_access_token` header) for the handoff.',
  },
  LEDGER_URL: {
    schema: HttpServiceUrlSchema.optional(),
    doc: 'Hosted ledger API. Unset = local ledger only.',
  },
  LEDGER_TOKEN: {
    schema: LedgerTokenSchema.optional(),
    secret: true,
    doc: "This desktop's device token for the hosted ledger (names its org).",
  },
  LEDGER_SYNC_INTERVAL_S: {
    schema: numberFromText(z.number().int().min(1).max(86_400).default(60)),
    doc: 'Seconds between two `billing.sync` runs against the hosted ledger.',
  },
  LEDGER_OFFLINE_GRACE_H: {
    schema: numberFromText(z.number().min(0).max(8760).default(72)),
    doc: 'Hours without a successful sync after which overage is refused (quota-covered work still goes).',
  },
  DOCKER_HOST: {
    schema: z.string().min(1).optional(),
    doc: "Docker engine for the cage; unset = dockerode's default socket.",
  },
  EVOLUTION_API_KEY: {
    schema: z.string().min(1).optional(),
    secret: true,
    doc: 'Evolution API key (`apikey` header).',
  },
  EVOLUTION_WEBHOOK_SECRET: {
    schema: z.string().min(16).optional(),
    secret: true,
    doc: 'Shared secret Evolution sends in `x-agencia-webhook-secret` to POST /webhooks/evolution.',
  },
  EVOLUTION_WEBHOOK_JWT_KEY: {
    schema: z.string().min(16).optional(),
    secret: true,
    doc: "The `jwt_key` of Evolution's webhook config: accepts its HS256 bearer tokens instead of the secret.",
  },
  EVOLUTION_TIMEOUT_MS: {
    schema: numberFromText(z.number().int().min(1000).max(120_000).default(15_000)),
    doc: 'How long one Evolution API call may take (plus the typing delay it is asked to wait).',
  },
  SMARTSEND_JITTER_MS: {
    schema: JitterEnvSchema.optional(),
    doc: 'Gap between two messages of one number: random in min-max ms (default 2000-7000).',
  },
  SMARTSEND_BURST: {
    schema: BurstEnvSchema.optional(),
    doc: 'Messages in a burst before a pause: random in min-max (default 20-60).',
  },
  SMARTSEND_BURST_PAUSE_MS: {
    schema: BurstPauseEnvSchema.optional(),
    doc: 'Pause after a burst: ms or min-max ms (default 300000-900000, 5-15 min).',
  },
  SMARTSEND_QUIET_HOURS: {
    schema: QuietHoursEnvSchema.optional(),
    doc: "No sending between these hours, in the org's time zone, e.g. 21:00-08:00 (unset = none).",
  },
  SMARTSEND_DAILY_CAP: {
    // A JSON config file may give it as a number.
    schema: z.coerce.string().pipe(DailyCapEnvSchema).optional(),
    doc: 'Messages per number per day once warm-up is over (default 1000).',
  },
  CAGE_IMAGE: {
    schema: z.string().min(1).default('agencia-cage:latest'),
    doc: 'Docker image of the agent cage.',
  },
  CAGE_MEMORY_MB: {
    schema: numberFromText(z.number().int().min(64).max(65_536).default(512)),
    doc: 'Memory limit of one cage (swap is the same).',
  },
  CAGE_CONCURRENCY: {
    schema: numberFromText(z.number().int().min(1).max(64).default(2)),
    doc: 'Agent runs at once; the rest wait in the queue.',
  },
  CAGE_TIMEOUT_S: {
    schema: numberFromText(z.number().int().min(5).max(86_400).default(600)),
    doc: 'Longest an agent run may take before its cage is killed.',
  },
  CAGE_RUNTIME: {
    schema: z.string().min(1).optional(),
    doc: 'OCI runtime for cages, e.g. runsc (gVisor) when installed; unset = Docker default.',
  },
  LOW_CREDIT_ALERT: {
    schema: z
      .string()
      .regex(/^\d+(\.\d{1,6})?$/, 'credits, e.g. 1 or 0.5')
      // The engine reads it with parseCredits: a value it refuses is a bad value here, named as such.
      .refine(parsesAsCredits, 'credits, at most the largest amount the ledger takes')
      .default('1'),
    doc: 'Raise a compliance alert when available credit drops below this many credits.',
  },
} as const satisfies Record<string, { schema: z.ZodType; doc: string; secret?: boolean }>;

export type ConfigVar = keyof typeof CONFIG_VARS;

const ConfigSchema = z.object(
  Object.fromEntries(Object.entries(CONFIG_VARS).map(([k, v]) => [k, v.schema])) as {
    [K in ConfigVar]: (typeof CONFIG_VARS)[K]['schema'];
  },
);
type RawConfig = z.output<typeof ConfigSchema>;

export interface EngineConfig {
  dataDir: string;
  dbFile: string;
  configFile?: string;
  host: string;
  port: number;
  redisUrl?: string;
  logLevel: RawConfig['LOG_LEVEL'];
  queueLeaseMs: number;
  services: {
    ollamaUrl: string;
    kokoroUrl: string;
    evolutionUrl?: string;
    chatwootUrl?: string;
    /** Secret. */
    chatwootToken?: string;
    ledgerUrl?: string;
    dockerHost?: string;
  };
  evolution: { apiKey?: string; webhookSecret?: string; webhookJwtKey?: string; timeoutMs: number };
  /** SmartSend's pacing: the SMARTSEND_* settings over its defaults. */
  smartsend: SmartSendSettings;
  cage: { image: string; memoryMb: number; concurrency: number; timeoutS: number; runtime?: string };
  /** Credits (decimal string) under which a low-credit alert fires. */
  lowCreditAlert: string;
  /** The hosted ledger sync; `token` is a secret. */
  ledger: { token?: string; syncIntervalS: number; offlineGraceH: number };
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** The user's app-data folder for this OS, as Electron's `userData` would place it. */
export function defaultDataDir(
  platform: NodeJS.Platform = process.platform,
  env: NodeJS.ProcessEnv = process.env,
  home = homedir(),
): string {
  if (platform === 'win32') return join(env.APPDATA ?? join(home, 'AppData', 'Roaming'), 'Agencia Desk');
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'Agencia Desk');
  return join(env.XDG_CONFIG_HOME || join(home, '.config'), 'agencia-desk');
}

function readConfigFile(file: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`Config file ${file} could not be read as JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(
      `Config file ${file} must hold a JSON object of settings, e.g. {"ENGINE_PORT": 7420}`,
    );
  }
  const unknown = Object.keys(parsed).filter((k) => !(k in CONFIG_VARS));
  if (unknown.length) {
    throw new ConfigError(`Config file ${file} has unknown settings: ${unknown.join(', ')}`);
  }
  return parsed as Record<string, unknown>;
}

/** Empty environment variables count as unset, as shells and .env files commonly leave them. */
function fromEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(CONFIG_VARS)) {
    const v = env[k];
    if (v !== undefined && v !== '') out[k] = v;
  }
  return out;
}

/** Loads and checks the configuration; a bad value throws a ConfigError naming its variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): EngineConfig {
  const fromEnvVars = fromEnv(env);
  const dataDirGuess = resolve(fromEnvVars.AGENCIA_DATA_DIR ?? defaultDataDir(process.platform, env));
  const explicitFile = fromEnvVars.AGENCIA_CONFIG;
  const fileCandidate = explicitFile ? resolve(explicitFile) : join(dataDirGuess, 'config.json');
  if (explicitFile && !existsSync(fileCandidate))
    throw new ConfigError(`AGENCIA_CONFIG: no file at ${fileCandidate}`);
  const fileValues = existsSync(fileCandidate) ? readConfigFile(fileCandidate) : {};

  const parsed = ConfigSchema.safeParse({ ...fileValues, ...fromEnvVars });
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const name = String(i.path[0] ?? 'config');
      const given = { ...fileValues, ...fromEnvVars }[name];
      const shown =
        name in CONFIG_VARS && (CONFIG_VARS as Record<string, { secret?: boolean }>)[name]?.secret
          ? '<hidden>'
          : JSON.stringify(
              typeof given === 'string' && given.includes('://') ? maskCredentials(given) : given,
            );
      return `${name}: ${i.message} (got ${shown})`;
    });
    throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const c = parsed.data;
  const dataDir = resolve(c.AGENCIA_DATA_DIR ?? dataDirGuess);
  return {
    dataDir,
    dbFile: join(dataDir, 'engine.db'),
    configFile: existsSync(fileCandidate) ? fileCandidate : undefined,
    host: c.ENGINE_HOST,
    port: c.ENGINE_PORT,
    redisUrl: c.REDIS_URL,
    logLevel: c.LOG_LEVEL,
    queueLeaseMs: c.QUEUE_LEASE_MS,
    services: {
      ollamaUrl: c.OLLAMA_URL,
      kokoroUrl: c.KOKORO_URL,
      evolutionUrl: c.EVOLUTION_URL,
      chatwootUrl: c.CHATWOOT_URL,
      chatwootToken: c.CHATWOOT_TOKEN,
      ledgerUrl: c.LEDGER_URL,
      dockerHost: c.DOCKER_HOST,
    },
    evolution: {
      apiKey: c.EVOLUTION_API_KEY,
      webhookSecret: c.EVOLUTION_WEBHOOK_SECRET,
      webhookJwtKey: c.EVOLUTION_WEBHOOK_JWT_KEY,
      timeoutMs: c.EVOLUTION_TIMEOUT_MS,
    },
    smartsend: SmartSendSettingsSchema.parse({
      jitter: c.SMARTSEND_JITTER_MS,
      burst: c.SMARTSEND_BURST,
      burstPause: c.SMARTSEND_BURST_PAUSE_MS,
      quietHours: c.SMARTSEND_QUIET_HOURS,
      dailyCap: c.SMARTSEND_DAILY_CAP,
    }),
    cage: {
      image: c.CAGE_IMAGE,
      memoryMb: c.CAGE_MEMORY_MB,
      concurrency: c.CAGE_CONCURRENCY,
      timeoutS: c.CAGE_TIMEOUT_S,
      runtime: c.CAGE_RUNTIME,
    },
    lowCreditAlert: c.LOW_CREDIT_ALERT,
    ledger: {
      token: c.LEDGER_TOKEN,
      syncIntervalS: c.LEDGER_SYNC_INTERVAL_S,
      offlineGraceH: c.LEDGER_OFFLINE_GRACE_H,
    },
  };
}

/**
 * A URL with its password masked (its user name too when it comes alone: then it is a token). Parsed
 * as a client parses it, so a password holding `@` or `/` is masked whole.
 */
function maskCredentials(u: string): string {
  try {
    const parsed = new URL(u);
    if (parsed.password !== '') parsed.password = '***';
    else if (parsed.username !== '') parsed.username = '***';
    return parsed.href;
  } catch {
    return '***';
  }
}

/** The configuration with secrets masked, for `status` and logs. */
export function describeConfig(c: EngineConfig): Record<string, unknown> {
  return {
    ...c,
    redisUrl: c.redisUrl && maskCredentials(c.redisUrl),
    services: { ...c.services, chatwootToken: c.services.chatwootToken && '***' },
    evolution: {
      timeoutMs: c.evolution.timeoutMs,
      apiKey: c.evolution.apiKey && '***',
      webhookSecret: c.evolution.webhookSecret && '***',
      webhookJwtKey: c.evolution.webhookJwtKey && '***',
    },
    ledger: { ...c.ledger, token: c.ledger.token && '***' },
  };
}
