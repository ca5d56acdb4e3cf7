import { describe, expect, it } from 'vitest';
import { SMARTSEND_ENV } from '../../src-engine/contracts/smartsend.ts';
import { loadConfig } from '../../src-engine/config/index.ts';
import { AppError } from '../../src-engine/errors.ts';
import { createSettingsStore, pacingEnv } from '../../src-main/settings-store.ts';
import { fakeSafeStorage, memoryFile } from './fake-electron.ts';

const KEY = 'evo-secret-key-123';

describe('desktop settings', () => {
  it('keeps keys encrypted on disk and never hands them back to the renderer', () => {
    const file = memoryFile();
    const box = fakeSafeStorage();
    const store = createSettingsStore({ file, box });
    const view = store.set({ services: { evolution: { url: 'http://127.0.0.1:8080', secret: KEY } } });
    expect(view.services.evolution).toEqual({ url: 'http://127.0.0.1:8080', hasSecret: true });
    expect(JSON.stringify(view)).not.toContain(KEY);
    expect(file.text).not.toContain(KEY);
    expect(box.calls).toBe(1);
    // A fresh store (the next start) reads it back and gives it to the engine only.
    const next = createSettingsStore({ file, box });
    expect(next.engineEnv()).toMatchObject({
      EVOLUTION_URL: 'http://127.0.0.1:8080',
      EVOLUTION_API_KEY: KEY,
    });
  });

  it('changes only what a patch names; null clears', () => {
    const store = createSettingsStore({ file: memoryFile(), box: fakeSafeStorage() });
    store.set({
      services: {
        ledger: { url: 'https://ledger.example', secret: 'device-token-0001' },
        ollama: { url: 'http://gpu:11434' },
      },
    });
    store.set({ services: { ledger: { url: 'https://ledger2.example' } } });
    expect(store.engineEnv()).toMatchObject({
      LEDGER_URL: 'https://ledger2.example',
      LEDGER_TOKEN: 'device-token-0001',
      OLLAMA_URL: 'http://gpu:11434',
    });
    const cleared = store.set({ services: { ledger: { secret: null }, ollama: { url: null } } });
    expect(cleared.services.ledger.hasSecret).toBe(false);
    expect(cleared.services.ollama.url).toBeNull();
    expect(store.engineEnv()).not.toHaveProperty('LEDGER_TOKEN');
    expect(store.engineEnv()).not.toHaveProperty('OLLAMA_URL');
  });

  it('refuses keys when the OS cannot encrypt them, and keys for services that take none', () => {
    const file = memoryFile();
    const store = createSettingsStore({ file, box: fakeSafeStorage(false) });
    expect(store.get().secretsAvailable).toBe(false);
    expect(() => store.set({ services: { chatwoot: { secret: 'plain?' } } })).toThrow(AppError);
    expect(file.text).toBeUndefined();
    const ok = createSettingsStore({ file, box: fakeSafeStorage() });
    expect(() => ok.set({ services: { ollama: { secret: 'x' } } })).toThrow(/takes no key/);
  });

  it('keeps the language chosen in the app for the tray and notifications; none until one is chosen', () => {
    const file = memoryFile();
    const store = createSettingsStore({ file, box: fakeSafeStorage() });
    expect(store.get().language).toBeNull();
    expect(store.set({ language: 'en' }).language).toBe('en');
    // Other changes leave it; the next start reads it back.
    store.set({ services: { ollama: { url: 'http://gpu:11434' } } });
    expect(createSettingsStore({ file, box: fakeSafeStorage() }).get().language).toBe('en');
    expect(() => store.set({ language: 'fr' } as never)).toThrow(AppError);
    expect(store.get().language).toBe('en');
  });

  it('validates patches with the shared schema', () => {
    const store = createSettingsStore({ file: memoryFile(), box: fakeSafeStorage() });
    const bad = (patch: unknown) => {
      try {
        store.set(patch as never);
      } catch (err) {
        return (err as AppError).code;
      }
      return 'accepted';
    };
    expect(bad({ services: { evolution: { url: 'javascript:alert(1)' } } })).toBe('VALIDATION_ERROR');
    // The engine would refuse to start on it: the key goes in its own field.
    expect(bad({ services: { evolution: { url: 'http://admin:key@127.0.0.1:8080' } } })).toBe(
      'VALIDATION_ERROR',
    );
    expect(bad({ services: { nope: { url: 'http://x' } } })).toBe('VALIDATION_ERROR');
    expect(
      bad({
        pacing: {
          jitterS: { min: 9, max: 2 },
          burst: null,
          burstPauseMin: null,
          dailyCap: null,
          quietHours: null,
        },
      }),
    ).toBe('VALIDATION_ERROR');
    expect(bad({ services: { docker: { url: 'unix:///var/run/docker.sock' } } })).toBe('accepted');
    // What the engine's configuration refuses is refused here too: saved, it would stop the next start.
    expect(bad({ services: { ollama: { url: 'tcp://192.168.1.20:11434' } } })).toBe('VALIDATION_ERROR');
    expect(bad({ services: { ledger: { url: 'https://ledger.example', secret: 'abc123' } } })).toBe(
      'VALIDATION_ERROR',
    );
    expect(bad({ services: { ollama: { url: ' http://gpu:11434 ' } } })).toBe('accepted');
    expect(() => loadConfig({ ...store.engineEnv(), AGENCIA_DATA_DIR: '/nonexistent' })).not.toThrow();
  });

  it('leaves out a saved value the engine would refuse (an older version saved it), so the app starts', () => {
    const errors: unknown[] = [];
    const store = createSettingsStore({
      file: memoryFile(
        JSON.stringify({
          services: { ollama: { url: 'tcp://gpu:11434' }, kokoro: { url: 'http://voice:8880' } },
        }),
      ),
      box: fakeSafeStorage(),
      onError: (e) => errors.push(e),
    });
    const env = store.engineEnv();
    expect(env).toEqual({ KOKORO_URL: 'http://voice:8880' });
    expect(() => loadConfig({ ...env, AGENCIA_DATA_DIR: '/nonexistent' })).not.toThrow();
    expect(String(errors[0])).toMatch(/url of ollama/);
  });

  it('starts from defaults when the file is damaged or a key cannot be decrypted', () => {
    const errors: unknown[] = [];
    const damaged = createSettingsStore({
      file: memoryFile('{"services": 42'),
      box: fakeSafeStorage(),
      onError: (e) => errors.push(e),
    });
    expect(damaged.get().services.evolution).toEqual({ url: null, hasSecret: false });
    const foreign = memoryFile(
      JSON.stringify({ services: { ledger: { secret: Buffer.from('other-keyring').toString('base64') } } }),
    );
    const store = createSettingsStore({
      file: foreign,
      box: fakeSafeStorage(),
      onError: (e) => errors.push(e),
    });
    expect(store.engineEnv()).not.toHaveProperty('LEDGER_TOKEN');
    expect(errors).toHaveLength(2);
  });

  it('turns pacing into SMARTSEND_* strings the engine accepts', () => {
    const env = pacingEnv({
      jitterS: { min: 3, max: 9 },
      burst: { min: 10, max: 30 },
      burstPauseMin: { min: 5, max: 20 },
      dailyCap: 400,
      quietHours: { start: '21:00', end: '08:00' },
    });
    expect(env).toEqual({
      SMARTSEND_JITTER_MS: '3000-9000',
      SMARTSEND_BURST: '10-30',
      SMARTSEND_BURST_PAUSE_MS: '300000-1200000',
      SMARTSEND_DAILY_CAP: '400',
      SMARTSEND_QUIET_HOURS: '21:00-08:00',
    });
    for (const [name, value] of Object.entries(env)) {
      expect(SMARTSEND_ENV[name as keyof typeof SMARTSEND_ENV].safeParse(value).success, name).toBe(true);
    }
    expect(
      pacingEnv({ jitterS: null, burst: null, burstPauseMin: null, dailyCap: null, quietHours: null }),
    ).toEqual({});
  });
});
