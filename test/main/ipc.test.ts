import { Writable } from 'node:stream';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src-engine/errors.ts';
import { createLogger } from '../../src-engine/logger.ts';
import { createIpcRouter, isOwnRenderer } from '../../src-main/ipc.ts';
import { RENDERER_URL, fakeIpcMain } from './fake-electron.ts';

function router() {
  const fake = fakeIpcMain();
  const lines: string[] = [];
  const log = createLogger('main', {
    level: 'info',
    destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }),
  });
  const r = createIpcRouter({ ipcMain: fake.ipcMain, rendererUrl: () => RENDERER_URL, log });
  return { fake, r, lines };
}

const Input = z.object({ id: z.string().min(1), limit: z.coerce.number().int().default(10) }).strict();

describe('IPC router', () => {
  it('answers {result}, giving the handler the parsed and the raw input', async () => {
    const { fake, r } = router();
    r.handle('things:get', Input, (parsed, raw) => ({ parsed, raw }));
    expect(await fake.invoke('things:get', { id: 'a', limit: '5' })).toEqual({
      result: { parsed: { id: 'a', limit: 5 }, raw: { id: 'a', limit: '5' } },
    });
    expect(r.channels).toEqual(['things:get']);
  });

  it('answers a VALIDATION_ERROR listing the issues, without running the handler', async () => {
    const { fake, r } = router();
    let ran = false;
    r.handle('things:get', Input, () => (ran = true));
    const reply = await fake.invoke('things:get', { id: '', extra: 1 });
    expect(reply).toMatchObject({ error: { error: 'VALIDATION_ERROR' } });
    const issues = (reply as { error: { details: { issues: { path: string[] }[] } } }).error.details.issues;
    expect(issues.map((i) => i.path.join('.'))).toEqual(expect.arrayContaining(['id']));
    expect(ran).toBe(false);
  });

  it('passes AppErrors through in the shared shape and hides anything else', async () => {
    const { fake, r, lines } = router();
    r.handle('pay:now', z.object({}), () => {
      throw new AppError('INSUFFICIENT_CREDITS', 'Not enough credits', { balance: 0 });
    });
    r.handle('crash:now', z.object({}), async () => {
      throw new Error('secret internals at /home/user');
    });
    expect(await fake.invoke('pay:now', {})).toEqual({
      error: { error: 'INSUFFICIENT_CREDITS', message: 'Not enough credits', details: { balance: 0 } },
    });
    expect(await fake.invoke('crash:now', undefined)).toEqual({
      error: { error: 'INTERNAL_ERROR', message: 'Internal error' },
    });
    expect(lines.join('')).toContain('IPC handler failed');
  });

  it('refuses calls from any frame but our renderer', async () => {
    const { fake, r, lines } = router();
    let calls = 0;
    r.handle('things:get', z.object({}), () => ++calls);
    for (const frame of ['file:///tmp/evil/index.html', 'https://evil.example/', 'about:blank', null]) {
      expect(await fake.invoke('things:get', {}, frame), String(frame)).toEqual({
        error: { error: 'UNAUTHORIZED', message: 'Not our renderer' },
      });
    }
    expect(calls).toBe(0);
    expect(lines.join('')).toContain('not ours');
    expect(await fake.invoke('things:get', {}, `${RENDERER_URL}?x=1#/billing`)).toEqual({ result: 1 });
  });

  it('refuses channel names that are not area:method', () => {
    const { r } = router();
    expect(() => r.handle('bad channel', z.object({}), () => 1)).toThrow(/Bad IPC channel/);
  });
});

describe('isOwnRenderer', () => {
  it('matches the built page by path and the dev server by origin', () => {
    expect(isOwnRenderer(`${RENDERER_URL}#/x`, RENDERER_URL)).toBe(true);
    expect(isOwnRenderer('file:///opt/Agencia%20Desk/other.html', RENDERER_URL)).toBe(false);
    expect(isOwnRenderer('http://localhost:5173/#/agents', 'http://localhost:5173/')).toBe(true);
    expect(isOwnRenderer('http://localhost:5174/', 'http://localhost:5173/')).toBe(false);
    expect(isOwnRenderer('not a url', RENDERER_URL)).toBe(false);
    expect(isOwnRenderer(undefined, RENDERER_URL)).toBe(false);
  });
});
