import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type AnySchemaObject, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

interface Healthcheck {
  test?: string | string[];
  disable?: boolean;
}
interface Service {
  image?: string;
  profiles?: string[];
  ports?: string[];
  environment?: Record<string, string>;
  healthcheck?: Healthcheck;
  extra_hosts?: string[];
  deploy?: {
    resources?: {
      reservations?: { devices?: { driver?: string; count?: string | number; capabilities?: string[] }[] };
    };
  };
}
interface ComposeFile {
  services: Record<string, Service>;
}

const composeText = readFileSync(join(root, 'compose.yaml'), 'utf8');
// Compose resolves YAML merge keys (`<<: *chatwoot`); interpolation stays as text.
const compose = parse(composeText, { merge: true }) as ComposeFile;
const services = compose.services;
// Every value in the file, without comments: what Compose actually interpolates.
const composeValues = JSON.stringify(compose);

function service(name: string): Service {
  const s = services[name];
  if (!s) throw new Error(`compose.yaml has no service ${name}`);
  return s;
}

function dotenv(text: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) vars.set(m[1]!, m[2]!);
  }
  return vars;
}
const envExample = dotenv(readFileSync(join(root, '.env.example'), 'utf8'));

const VAR_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g;

/** Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}` against the given variables. */
function interpolate(value: string, vars: ReadonlyMap<string, string>): string {
  return value.replace(VAR_REF, (_all, name: string, op: string | undefined, arg: string | undefined) => {
    const v = vars.get(name);
    if (op === ':-') return v ? v : (arg ?? '');
    if (op === '-') return v ?? arg ?? '';
    if (op === ':?' && !v) throw new Error(`required variable ${name} is missing a value`);
    return v ?? '';
  });
}

function referencedVars(text: string): { name: string; op: string | undefined }[] {
  return [...text.matchAll(VAR_REF)].map((m) => ({ name: m[1]!, op: m[2] }));
}

/** `ip:host:container` port strings, as this file writes them. */
function published(s: Service): { ip: string; host: number; container: number }[] {
  return (s.ports ?? []).map((p) => {
    const m = /^(\d+\.\d+\.\d+\.\d+):(\d+):(\d+)$/.exec(p);
    if (!m) throw new Error(`port ${p} is not ip:host:container`);
    return { ip: m[1]!, host: Number(m[2]), container: Number(m[3]) };
  });
}

function imageTag(image: string): string | undefined {
  const noDigest = image.split('@')[0]!;
  const lastSegment = noDigest.slice(noDigest.lastIndexOf('/') + 1);
  const colon = lastSegment.indexOf(':');
  return colon === -1 ? undefined : lastSegment.slice(colon + 1);
}

describe('compose.yaml against the Compose Specification schema', () => {
  let validate: ValidateFunction;

  beforeAll(() => {
    // dclint ships an unmodified copy of compose-spec/schema/compose-spec.json.
    const schemaFile = join(dirname(require.resolve('dclint/package.json')), 'schemas/compose.schema.json');
    const schema = JSON.parse(readFileSync(schemaFile, 'utf8')) as AnySchemaObject;
    // The spec's schema uses union types and untyped additionalProperties throughout, which
    // Ajv's strictTypes would only warn about.
    const ajv = new Ajv({ allErrors: true, allowUnionTypes: true, strictTypes: false });
    // The spec names its meta-schema https://json-schema.org/draft-07/schema; Ajv registers
    // draft-07 as http://...#, so alias it rather than skip meta-validation.
    const draft07 = require('ajv/dist/refs/json-schema-draft-07.json') as AnySchemaObject;
    expect(schema.$schema).toBe('https://json-schema.org/draft-07/schema');
    ajv.addMetaSchema({ ...draft07, $id: schema.$schema as string });
    validate = ajv.compile(schema);
  });

  it('is a valid Compose file', () => {
    const valid = validate(parse(composeText, { merge: true }));
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it('rejects a broken file, so the check above means something', () => {
    const broken = (mutate: (doc: Record<string, unknown> & ComposeFile) => void) => {
      const doc = parse(composeText, { merge: true }) as Record<string, unknown> & ComposeFile;
      mutate(doc);
      return validate(doc);
    };
    expect(broken((d) => (d.services.redis!.ports = 12 as unknown as string[]))).toBe(false);
    expect(broken((d) => (d.servcies = {}))).toBe(false);
    expect(broken((d) => ((d.services.redis as Record<string, unknown>).healtcheck = {}))).toBe(false);
    expect(
      broken((d) => (d.services.ollama!.deploy!.resources!.reservations!.devices = 'gpu' as never)),
    ).toBe(false);
  });
});

describe('what the engine expects of the stack', () => {
  const enginePorts: [service: string, port: number][] = [
    ['redis', 6379],
    ['ollama', 11434],
    ['kokoro', 8880],
    ['evolution', 8080],
    ['chatwoot-rails', 3000],
    ['n8n', 5678],
    ['ledger', 7430],
  ];

  it.each(enginePorts)('%s publishes %i on 127.0.0.1', (name, port) => {
    expect(published(service(name))).toContainEqual({ ip: '127.0.0.1', host: port, container: port });
  });

  it('publishes nothing beyond loopback', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const p of published(s)) expect(p.ip, `${name} publishes on ${p.ip}`).toBe('127.0.0.1');
    }
  });

  it('gives every service a healthcheck that runs a command', () => {
    for (const [name, s] of Object.entries(services)) {
      const test = s.healthcheck?.test;
      expect(s.healthcheck?.disable, name).not.toBe(true);
      expect(Array.isArray(test), `${name} healthcheck.test`).toBe(true);
      expect(['CMD', 'CMD-SHELL'], name).toContain((test as string[])[0]);
      expect((test as string[]).length, name).toBeGreaterThan(1);
      for (const part of test as unknown[]) expect(part, name).toBeTypeOf('string');
    }
  });

  it('pins every image to a tag that is not latest', () => {
    for (const [name, s] of Object.entries(services)) {
      expect(s.image, `${name} has an image`).toBeTypeOf('string');
      const tag = imageTag(interpolate(s.image!, new Map()));
      expect(tag, `${name}: ${s.image}`).toBeTruthy();
      expect(tag, `${name}: ${s.image}`).not.toMatch(/^(latest|stable|main|edge|nightly)$/);
    }
  });

  it('uses the images the engine speaks to, at the majors it speaks', () => {
    expect(service('ollama').image).toMatch(/^ollama\/ollama:/);
    expect(service('kokoro').image).toMatch(/^ghcr\.io\/remsky\/kokoro-fastapi-gpu:v/);
    expect(service('evolution').image).toMatch(/^(atendai|evoapicloud)\/evolution-api:v2\./);
    expect(service('chatwoot-rails').image).toMatch(/^chatwoot\/chatwoot:v/);
    expect(service('chatwoot-sidekiq').image).toBe(service('chatwoot-rails').image);
    expect(service('chatwoot-postgres').image).toMatch(/^pgvector\/pgvector:/);
    expect(service('n8n').image).toMatch(/^n8nio\/n8n:/);
    expect(service('ledger-postgres').image).toMatch(/^postgres:16(\.|-|$)/);
  });

  it.each(['ollama', 'kokoro'])('reserves NVIDIA GPUs for %s', (name) => {
    const devices = service(name).deploy?.resources?.reservations?.devices ?? [];
    expect(devices).toContainEqual(
      expect.objectContaining({ driver: 'nvidia', capabilities: expect.arrayContaining(['gpu']) }),
    );
    const gpu = devices.find((d) => d.driver === 'nvidia')!;
    expect(['all', 1]).toContain(gpu.count);
  });

  it('puts each optional part in its profile and the core in none', () => {
    const byProfile = new Map<string, string[]>();
    for (const [name, s] of Object.entries(services)) {
      for (const p of s.profiles ?? ['(default)']) byProfile.set(p, [...(byProfile.get(p) ?? []), name]);
    }
    expect(Object.fromEntries([...byProfile].map(([p, names]) => [p, names.sort()]))).toEqual({
      '(default)': ['evolution', 'evolution-postgres', 'kokoro', 'ollama', 'redis'],
      hitl: ['chatwoot-postgres', 'chatwoot-rails', 'chatwoot-redis', 'chatwoot-sidekiq'],
      automation: ['n8n'],
      hosted: ['ledger', 'ledger-postgres'],
    });
  });

  it('wires Evolution to its postgres, the shared redis and the engine webhook', () => {
    const evo = service('evolution');
    const env = evo.environment!;
    expect(env.DATABASE_PROVIDER).toBe('postgresql');
    expect(
      new URL(interpolate(env.DATABASE_CONNECTION_URI!, new Map([['EVOLUTION_DB_PASSWORD', 'x']]))).host,
    ).toBe('evolution-postgres:5432');
    expect(env.AUTHENTICATION_API_KEY).toMatch(/^\$\{EVOLUTION_API_KEY:\?/);
    expect(env.CACHE_REDIS_ENABLED).toBe('true');
    expect(new URL(env.CACHE_REDIS_URI!).host).toBe('redis:6379');
    expect(env.WEBHOOK_GLOBAL_ENABLED).toBe('true');
    expect(env.WEBHOOK_GLOBAL_URL).toBe('http://host.docker.internal:7420/webhooks/evolution');
    expect(evo.extra_hosts).toContain('host.docker.internal:host-gateway');
    for (const event of ['MESSAGES_UPSERT', 'MESSAGES_UPDATE', 'CONNECTION_UPDATE']) {
      expect(env[`WEBHOOK_EVENTS_${event}`], event).toBe('true');
    }
  });

  it('gives the ledger its port, admin token and a DATABASE_URL to its own postgres', () => {
    const env = service('ledger').environment!;
    expect(env.LEDGER_PORT).toBe('7430');
    expect(env.LEDGER_ADMIN_TOKEN).toMatch(/^\$\{LEDGER_ADMIN_TOKEN[:}]/);
    const db = new URL(interpolate(env.DATABASE_URL!, new Map([['LEDGER_DB_PASSWORD', 'x']])));
    expect(db.protocol).toBe('postgres:');
    expect(db.host).toBe('ledger-postgres:5432');
    expect(db.pathname).toBe(`/${service('ledger-postgres').environment!.POSTGRES_DB}`);
  });
});

describe('.env.example', () => {
  it.each([
    ['OLLAMA_URL', 'ollama'],
    ['KOKORO_URL', 'kokoro'],
    ['EVOLUTION_URL', 'evolution'],
    ['REDIS_URL', 'redis'],
    ['CHATWOOT_URL', 'chatwoot-rails'],
    ['LEDGER_URL', 'ledger'],
  ])('%s points at the port %s publishes', (variable, name) => {
    const url = new URL(envExample.get(variable) ?? '');
    expect(['127.0.0.1', 'localhost']).toContain(url.hostname);
    expect(published(service(name)).map((p) => p.host)).toContain(Number(url.port));
  });

  it('documents every variable compose.yaml uses', () => {
    const undocumented = referencedVars(composeValues)
      .map((r) => r.name)
      .filter((n) => !envExample.has(n));
    expect(undocumented).toEqual([]);
  });

  it('ships no secret values', () => {
    for (const [name, value] of envExample) {
      if (/PASSWORD|SECRET|TOKEN|API_KEY|ENCRYPTION_KEY/.test(name)) expect(value, name).toBe('');
    }
  });

  it('makes the default stack refuse to start without its secrets', () => {
    expect(() => interpolate(composeValues, envExample)).toThrow(/EVOLUTION_API_KEY|EVOLUTION_DB_PASSWORD/);
  });
});

describe('secrets in compose.yaml', () => {
  it('come from interpolation, never literals', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [key, value] of Object.entries(s.environment ?? {})) {
        if (/PASSWORD|SECRET|TOKEN|API_KEY|ENCRYPTION_KEY/.test(key)) {
          expect(String(value), `${name}.${key}`).toMatch(/^\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}$/);
        }
      }
    }
  });

  // Compose interpolates the whole file before applying profiles: a `${VAR:?}` in a profile
  // service would stop `docker compose up` for users who never enabled that profile.
  it('are only required (`:?`) by services outside any profile', () => {
    for (const [name, s] of Object.entries(services)) {
      if (!s.profiles?.length) continue;
      const required = referencedVars(JSON.stringify(s)).filter((r) => r.op === ':?' || r.op === '?');
      expect(required, name).toEqual([]);
    }
  });
});
