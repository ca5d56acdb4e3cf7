// The renderer in a real browser as the desktop app runs it: with the preload's bridge (window.agencia)
// wired to the main process's real IPC router, channels and settings store (test/main/fake-electron.ts
// stands in for Electron's ipcMain), over a real engine.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src-engine/logger.ts';
import { registerChannels } from '../../src-main/channels.ts';
import { createIpcRouter } from '../../src-main/ipc.ts';
import { createSettingsStore } from '../../src-main/settings-store.ts';
import { RENDERER_URL, bridgeOver, fakeIpcMain, fakeSafeStorage, memoryFile } from '../main/fake-electron.ts';
import { buildRenderer, launchChromium, startUiEngine, type UiEngine } from './ui-world.ts';

let ui: UiEngine;
let browser: Browser;
let settings: ReturnType<typeof createSettingsStore>;
const invoked: { channel: string; input: unknown }[] = [];

beforeAll(async () => {
  let rendererDir: string;
  [rendererDir, browser] = await Promise.all([buildRenderer(), launchChromium()]);
  ui = await startUiEngine(rendererDir, { plan: 'starter' });
  const fake = fakeIpcMain();
  const router = createIpcRouter({
    ipcMain: fake.ipcMain,
    rendererUrl: () => RENDERER_URL,
    log: createLogger('main', { level: 'silent' }),
  });
  settings = createSettingsStore({ file: memoryFile(), box: fakeSafeStorage() });
  registerChannels(router, { call: (name, input) => ui.engine.call(name, input, ui.token), settings });
  const bridge = bridgeOver(fake);
  // The bridge is the page's only way to the engine and the settings: every call is recorded.
  (globalThis as { bridgeInvoke?: unknown }).bridgeInvoke = (channel: string, input: unknown) => {
    invoked.push({ channel, input });
    return bridge.invoke(channel, input);
  };
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await ui?.close();
});

async function desktopPage(lang?: 'es' | 'en'): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1024, height: 700 }, locale: 'en-US' });
  page.setDefaultTimeout(5000);
  await page.exposeFunction('bridgeInvoke', (channel: string, input: unknown) =>
    (globalThis as unknown as { bridgeInvoke: (c: string, i: unknown) => Promise<unknown> }).bridgeInvoke(
      channel,
      input,
    ),
  );
  await page.addInitScript((stored) => {
    if (stored) localStorage.setItem('agencia.lang', stored);
    const w = window as unknown as { bridgeInvoke: (c: string, i: unknown) => Promise<unknown> };
    (window as unknown as { agencia: unknown }).agencia = {
      platform: 'linux',
      invoke: (channel: string, input: unknown) => w.bridgeInvoke(channel, input),
      onEvent: () => () => {},
      ready: () => {},
    };
  }, lang);
  await page.goto(`${ui.base}/?token=${ui.token}`);
  await page.waitForSelector('main[data-screen="panel"] [data-kpi="available"]');
  return page;
}

describe('the desktop UI over the IPC bridge', () => {
  it('leaves the language to the OS until the user chooses one, then the UI and the tray follow it', async () => {
    const page = await desktopPage();
    expect(invoked.some((c) => c.channel === 'billing:balance')).toBe(true); // it runs over IPC
    // Opening the app chose nothing: the tray and notifications keep the OS's language.
    expect(invoked.filter((c) => c.channel === 'settings:set')).toEqual([]);
    expect(settings.get().language).toBeNull();

    await page.click('nav [data-screen="settings"]');
    await page.getByLabel('Idioma').first().selectOption('en');
    await page.waitForSelector('nav >> text=Dashboard');
    await expect.poll(() => settings.get().language).toBe('en');

    // The choice is the desktop's: a window whose own storage says Spanish opens in English.
    const other = await desktopPage('es');
    await other.waitForSelector('nav >> text=Dashboard');
    await page.close();
    await other.close();
  });
});
