// IPC end to end without Electron: the renderer's EngineClient over the IPC transport, through the
// preload bridge's contract, the main process's router and channels, into a real engine.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src-engine/config/index.ts';
import { createEngine, type Engine } from '../../src-engine/engine.ts';
import { createLogger } from '../../src-engine/logger.ts';
import { registerChannels } from '../../src-main/channels.ts';
import { desktopOrgId } from '../../src-engine/run.ts';
import { createIpcRouter } from '../../src-main/ipc.ts';
import { createSettingsStore } from '../../src-main/settings-store.ts';
import { createEngineClient, type EngineClient } from '../../src-renderer/src/client/engine-client.ts';
import { callDesktop } from '../../src-renderer/src/client/desktop.ts';
import { ClientError } from '../../src-renderer/src/client/errors.ts';
import { createIpcTransport } from '../../src-renderer/src/client/ipc-transport.ts';
import { RENDERER_URL, bridgeOver, fakeIpcMain, fakeSafeStorage, memoryFile } from './fake-electron.ts';

let dir: string;
let engine: Engine;
let orgId: string;
let fake: ReturnType<typeof fakeIpcMain>;
let client: EngineClient;
const calls: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agencia-ipc-'));
  engine = await createEngine({
    config: loadConfig({ AGENCIA_DATA_DIR: dir }),
    log: createLogger('engine', { level: 'silent' }),
  });
  orgId = desktopOrgId(engine.db, 'Mi agencia');
  const token = engine.sessions.issue(orgId);
  fake = fakeIpcMain();
  const router = createIpcRouter({
    ipcMain: fake.ipcMain,
    rendererUrl: () => RENDERER_URL,
    log: createLogger('main', { level: 'silent' }),
  });
  registerChannels(router, {
    call: (name, input) => {
      calls.push(name);
      return engine.call(name, input, token);
    },
    settings: createSettingsStore({ file: memoryFile(), box: fakeSafeStorage() }),
  });
  client = createEngineClient(createIpcTransport(bridgeOver(fake)));
});

afterAll(async () => {
  client.close();
  await engine.close(0);
  rmSync(dir, { recursive: true, force: true });
});

const caught = (p: Promise<unknown>) =>
  p.then(
    () => expect.fail('should have thrown'),
    (e: unknown) => e as ClientError,
  );

describe('EngineClient over IPC', () => {
  it('acts as the desktop org, made at the first start and found after', () => {
    expect(desktopOrgId(engine.db, 'Otra')).toBe(orgId);
  });

  it('calls engine operations by their channel name', async () => {
    expect(fake.handlers.has('billing:balance')).toBe(true);
    const balance = await client.call('billing:balance', {});
    expect(balance).toMatchObject({ orgId, quota: { plan: { id: 'free' } } });
    const instance = await client.call('whatsapp:addInstance', {
      name: 'Ventas',
      evolutionInstance: 'ventas',
    });
    expect(instance).toMatchObject({ name: 'Ventas', health: 'WARMUP' });
    const list = await client.call('dlq:list', { resolved: 'false', limit: 5 });
    expect(list.items).toEqual([]);
  });

  it('answers engine errors in the shared shape', async () => {
    const err = await caught(client.call('whatsapp:addInstance', { name: 'Dos', evolutionInstance: 'dos' }));
    expect(err.code).toBe('PLAN_LIMIT');
  });

  it('validates payloads in the main process before the engine sees them', async () => {
    calls.length = 0;
    const reply = await fake.invoke('whatsapp:send', { instanceId: 'auto', to: 'not digits', text: 'x' });
    expect(reply).toMatchObject({ error: { error: 'VALIDATION_ERROR' } });
    expect(calls).toEqual([]);
  });

  it('keeps the desktop settings behind their own channels', async () => {
    const bridge = bridgeOver(fake);
    const saved = await callDesktop(bridge, 'settings:set', {
      services: { evolution: { url: 'http://127.0.0.1:8080', secret: 'k' } },
    });
    expect(saved.services.evolution).toEqual({ url: 'http://127.0.0.1:8080', hasSecret: true });
    expect((await callDesktop(bridge, 'settings:get', {})).services.evolution.hasSecret).toBe(true);
    expect((await callDesktop(bridge, 'settings:set', { language: 'en' })).language).toBe('en');
    expect(await fake.invoke('settings:set', { language: 'fr' })).toMatchObject({
      error: { error: 'VALIDATION_ERROR' },
    });
    expect(await bridge.invoke('nope:nothing', {})).toMatchObject({ error: { error: 'NOT_FOUND' } });
  });
});
