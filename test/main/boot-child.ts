// Runs the built main bundle with `electron` replaced by fake-electron-module.ts, drives it like a
// renderer would, and prints what happened as one JSON line (read by boot.test.ts).
import { register } from 'node:module';

const FAKE = new URL('./fake-electron-module.ts', import.meta.url).href;
register(
  `data:text/javascript,export async function resolve(s, c, n) { return s === 'electron' ? { url: ${JSON.stringify(FAKE)}, shortCircuit: true } : n(s, c); }`,
);

const fake = await import('./fake-electron-module.ts');
await import(process.env.MAIN_BUNDLE!);
const until = async (ok: () => boolean) => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 25));
};
await until(
  () => fake.ipcMain.handlers.has('on:renderer:ready') && fake.calls.some((c) => c.startsWith('tray.menu')),
);
const win = fake.BrowserWindow.all[0]!;
const from = (url: string) => ({ senderFrame: { url } });
const invoke = (channel: string, input: unknown, url = win.webContents.url) =>
  fake.ipcMain.handlers.get(channel)!(from(url), input);

const result = {
  channels: [...fake.ipcMain.handlers.keys()],
  url: win.webContents.url,
  webPreferences: win.options.webPreferences,
  balance: await invoke('billing:balance', {}),
  foreign: await invoke('billing:balance', {}, 'https://evil.example/'),
  invalid: await invoke('whatsapp:send', { to: 'x' }),
  secret: await invoke('settings:set', { services: { ledger: { secret: 'device-token-0001' } } }),
  closePrevented: false,
  calls: [] as string[],
};
win.emit('close', { preventDefault: () => (result.closePrevented = true) });
fake.app.quit();
await until(() => fake.calls.filter((c) => c === 'app.quit').length >= 2);
result.calls = fake.calls;
console.log(JSON.stringify(result));
process.exit(0);
