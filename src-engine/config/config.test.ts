import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, defaultDataDir, describeConfig, loadConfig } from './index.ts';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'agencia-config-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('config', () => {
  it('runs with nothing set: embedded defaults', () => {
    const dir = tmp();
    const c = loadConfig({ AGENCIA_DATA_DIR: dir });
    expect(c).toMatchObject({
      dataDir: dir,
      dbFile: join(dir, 'engine.db'),
      host: '127.0.0.1',
      port: 7420,
      logLevel: 'info',
    });
    expect(c.redisUrl).toBeUndefined();
    expect(c.services.ollamaUrl).toBe('http://127.0.0.1:11434');
    expect(c.services.kokoroUrl).toBe('http://127.0.0.1:8880');
  });

  it('puts the data dir under the OS app-data folder', () => {
    expect(defaultDataDir('linux', {}, '/home/ana')).toBe('/home/ana/.config/agencia-desk');
    expect(defaultDataDir('linux', { XDG_CONFIG_HOME: '/x' }, '/home/ana')).toBe('/x/agencia-desk');
    expect(defaultDataDir('darwin', {}, '/Users/ana')).toBe(
      '/Users/ana/Library/Application Support/Agencia Desk',
    );
    expect(
      defaultDataDir('win32', { APPDATA: 'C:\\Users\\ana\\AppData\\Roaming' }, 'C:\\Users\\ana'),
    ).toContain('Agencia Desk');
  });

  it('stops with a message naming the bad variable', () => {
    const dir = tmp();
    expect(() => loadConfig({ AGENCIA_DATA_DIR: dir, ENGINE_PORT: 'abc' })).toThrow(/ENGINE_PORT/);
    expect(() => loadConfig({ AGENCIA_DATA_DIR: dir, ENGINE_PORT: '70000' })).toThrow(/ENGINE_PORT/);
    expect(() => loadConfig({ AGENCIA_DATA_DIR: dir, ENGINE_PORT: '-1' })).toThrow(/ENGINE_PORT/);
    // Not numbers, though z.coerce.number() read them as 0 ("any free port") or 16.
    for (const bad of [' ', '0x10', '1e3', '7420abc']) {
      expect(() => loadConfig({ AGENCIA_DATA_DIR: dir, ENGINE_PORT: bad }), bad).toThrow(/ENGINE_PORT/);
    }
    expect(() => loadConfig({ AGENCIA_DATA_DIR: dir, QUEUE_LEASE_MS: ' ' })).toThrow(/QUEUE_LEASE_MS/);
    expect(() => loadConfig({ AGENCIA_DATA_DIR: dir, CAGE_CONCURRENCY: '2.5' })).toThrow(/CAGE_CONCURRENCY/);
    expect(() => loadConfig({ AGENCIA_DATA_DIR: dir, LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL/);
    expect(() => loadConfig({ AGENCIA_DATA_DIR: dir, OLLAMA_URL: 'not a url' })).toThrow(/OLLAMA_URL/);
    expect(() => loadConfig({ AGENCIA_DATA_DIR: dir, REDIS_URL: 'nope' })).toThrow(ConfigError);
    // Digits the pattern takes but more credits than the ledger does: named, not a bare ledger error.
    expect(() => loadConfig({ AGENCIA_DATA_DIR: dir, LOW_CREDIT_ALERT: '99999999999' })).toThrow(
      /LOW_CREDIT_ALERT/,
    );
    expect(loadConfig({ AGENCIA_DATA_DIR: dir, LOW_CREDIT_ALERT: '2.5' }).lowCreditAlert).toBe('2.5');
  });

  it('never echoes a secret value in its error', () => {
    const dir = tmp();
    let message = '';
    try {
      loadConfig({ AGENCIA_DATA_DIR: dir, REDIS_URL: 'redis//:hunter2@host' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/REDIS_URL/);
    expect(message).not.toContain('hunter2');
  });

  it('reads numbers as decimal text, with spaces around, or as JSON numbers; empty is unset', () => {
    const dir = tmp();
    expect(loadConfig({ AGENCIA_DATA_DIR: dir, ENGINE_PORT: ' 7500 ' }).port).toBe(7500);
    expect(loadConfig({ AGENCIA_DATA_DIR: dir, ENGINE_PORT: '' }).port).toBe(7420);
    expect(loadConfig({ AGENCIA_DATA_DIR: dir, LEDGER_OFFLINE_GRACE_H: '1.5' }).ledger.offlineGraceH).toBe(
      1.5,
    );
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ENGINE_PORT: '', CAGE_MEMORY_MB: 1024 }));
    const c = loadConfig({ AGENCIA_DATA_DIR: dir });
    expect([c.port, c.cage.memoryMb]).toEqual([7420, 1024]);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ENGINE_PORT: true }));
    expect(() => loadConfig({ AGENCIA_DATA_DIR: dir })).toThrow(/ENGINE_PORT/);
  });

  it('refuses credentials in an HTTP service URL, without echoing them', () => {
    const dir = tmp();
    for (const name of ['EVOLUTION_URL', 'CHATWOOT_URL', 'LEDGER_URL', 'OLLAMA_URL', 'KOKORO_URL']) {
      for (const value of ['https://ops:s3cret@svc.example.org', 'http://s3cret@127.0.0.1:8080']) {
        let message = '';
        try {
          loadConfig({ AGENCIA_DATA_DIR: dir, [name]: value });
        } catch (err) {
          message = (err as Error).message;
        }
        expect(message, `${name}=${value}`).toMatch(new RegExp(`${name}: must not hold a user name`));
        expect(message).not.toContain('s3cret');
      }
    }
  });

  it('reads the config file; the environment wins over it', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ENGINE_PORT: 7500, ENGINE_HOST: '::1' }));
    const c = loadConfig({ AGENCIA_DATA_DIR: dir, ENGINE_HOST: '127.0.0.2' });
    expect(c.port).toBe(7500);
    expect(c.host).toBe('127.0.0.2');
    expect(c.configFile).toBe(join(dir, 'config.json'));
  });

  it('rejects a broken or unknown-key config file, and a missing AGENCIA_CONFIG', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'a.json'), '{ nope');
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ ENGINE_PROT: 1 }));
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ ENGINE_PORT: 'x' }));
    expect(() => loadConfig({ AGENCIA_CONFIG: join(dir, 'a.json') })).toThrow(/could not be read as JSON/);
    expect(() => loadConfig({ AGENCIA_CONFIG: join(dir, 'b.json') })).toThrow(
      /unknown settings: ENGINE_PROT/,
    );
    expect(() => loadConfig({ AGENCIA_CONFIG: join(dir, 'c.json') })).toThrow(/ENGINE_PORT/);
    expect(() => loadConfig({ AGENCIA_CONFIG: join(dir, 'missing.json') })).toThrow(/AGENCIA_CONFIG/);
  });

  it('masks credentials when described', () => {
    const dir = tmp();
    const c = loadConfig({
      AGENCIA_DATA_DIR: dir,
      // An unencoded `@` in the password: a client splits at the last one.
      REDIS_URL: 'redis://user:pa@s3cret@127.0.0.1:6379',
      LEDGER_TOKEN: 's3cret-device-token-0001',
      CHATWOOT_TOKEN: 's3cret-chatwoot',
      EVOLUTION_API_KEY: 's3cret-evolution',
    });
    expect(c.ledger.token).toBe('s3cret-device-token-0001');
    expect(c.services.chatwootToken).toBe('s3cret-chatwoot');
    expect(JSON.stringify(describeConfig(c))).not.toContain('s3cret');
    expect(describeConfig(c).redisUrl).toBe('redis://user:***@127.0.0.1:6379');
  });
});

describe('SmartSend settings', () => {
  it.each([
    ['SMARTSEND_JITTER_MS', '7000-2000'],
    ['SMARTSEND_JITTER_MS', 'x'],
    ['SMARTSEND_BURST', '60'],
    ['SMARTSEND_QUIET_HOURS', '25:00-01:00'],
    ['SMARTSEND_DAILY_CAP', '0'],
  ])('refuses %s=%s at start-up, naming the variable', (name, value) => {
    expect(() => loadConfig({ AGENCIA_DATA_DIR: '/tmp/x', [name]: value })).toThrow(name);
  });

  it('parses good values into the settings', () => {
    const c = loadConfig({
      AGENCIA_DATA_DIR: '/tmp/x',
      SMARTSEND_JITTER_MS: '1000-3000',
      SMARTSEND_BURST: '10-20',
      SMARTSEND_QUIET_HOURS: '22:00-07:30',
    });
    expect(c.smartsend).toMatchObject({ jitter: { minMs: 1000, maxMs: 3000 }, burst: { min: 10, max: 20 } });
  });
});
