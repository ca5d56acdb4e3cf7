import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);
const url = z.url({ protocol: /^(https?|redis|rediss|unix|tcp)$/ });

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
  ENGINE_PORT: { schema: port.default(7420), doc: 'Port of the local API (0 = any free port).' },
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
    schema: z.coerce.number().int().min(1000).max(600_000).default(30_000),
    doc: 'How long a running job is leased before another worker may take it (crash recovery).',
  },
  OLLAMA_URL: { schema: url.default('http://127.0.0.1:11434'), doc: 'Ollama (local LLM).' },
  KOKORO_URL: { schema: url.default('http://127.0.0.1:8880'), doc: 'Kokoro-FastAPI (local voice).' },
  EVOLUTION_URL: { schema: url.optional(), doc: 'Evolution API v2 (WhatsApp). Unset = WhatsApp disabled.' },
  CHATWOOT_URL: { schema: url.optional(), doc: 'Chatwoot for human handoff (optional).' },
  LEDGER_URL: { schema: url.optional(), doc: 'Hosted ledger API. Unset = local ledger only.' },
  DOCKER_HOST: {
    schema: z.string().min(1).optional(),
    doc: "Docker engine for the cage; unset = dockerode's default socket.",
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
    ledgerUrl?: string;
    dockerHost?: string;
  };
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
          : JSON.stringify(given);
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
      ledgerUrl: c.LEDGER_URL,
      dockerHost: c.DOCKER_HOST,
    },
  };
}

/** The configuration with secrets masked, for `status` and logs. */
export function describeConfig(c: EngineConfig): Record<string, unknown> {
  const mask = (u?: string) => (u ? u.replace(/\/\/([^@/]*)@/, '//***@') : undefined);
  return {
    ...c,
    redisUrl: mask(c.redisUrl),
    services: { ...c.services, ledgerUrl: mask(c.services.ledgerUrl) },
  };
}
