// `agencia-desk-engine start --ui` over real HTTP: the run loop serves the built panel with a fresh
// session token, the whole API then refuses foreign Host/Origin headers (DNS rebinding) except the
// server-to-server webhooks, and a non-loopback address is refused unless explicitly allowed.
// (The same command in a real browser, started by `npm start`, is in electron.test.ts.)
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { networkInterfaces, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src-engine/config/index.ts';
import { AppError } from '../../src-engine/errors.ts';
import { createLogger } from '../../src-engine/logger.ts';
import { runEngine, type RunningEngine } from '../../src-engine/run.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const INDEX = '<!doctype html><html><head><title>panel</title></head><body></body></html>';
const log = createLogger('engine', { level: 'silent' });

let root: string;
let uiDir: string;

/** A raw request (fetch cannot set Host): status and parsed JSON body, or the text. */
function raw(url: string, headers: Record<string, string> = {}, method = 'GET') {
  return new Promise<{ status: number; body: string }>((done, fail) => {
    const req = request(url, { method, headers }, (res) => {
      let body = '';
      res.on('data', (d) => (body += String(d)));
      res.on('end', () => done({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', fail);
    req.end(method === 'POST' ? '{}' : undefined);
  });
}

function engineConfig(name: string, env: Record<string, string> = {}) {
  return loadConfig({
    AGENCIA_DATA_DIR: join(root, name),
    ENGINE_PORT: '0',
    OLLAMA_URL: 'http://127.0.0.1:9',
    KOKORO_URL: 'http://127.0.0.1:9',
    ...env,
  });
}

/** The first non-loopback IPv4 address of this machine, if it has one. */
function lanAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'agencia-start-ui-'));
  uiDir = join(root, 'renderer');
  mkdirSync(join(uiDir, 'assets'), { recursive: true });
  writeFileSync(join(uiDir, 'index.html'), INDEX);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('start --ui on the loopback address', () => {
  let running: RunningEngine;
  let url: URL;

  beforeAll(async () => {
    running = await runEngine(engineConfig('loopback'), log, undefined, { ui: { rootDir: uiDir } });
    url = new URL(running.uiUrl!);
  });
  afterAll(() => running?.stop(0));

  it('prints the panel address with a fresh session token', () => {
    expect(running.uiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=ads_[A-Za-z0-9_-]{43}$/);
    expect(url.origin).toBe(running.url);
  });

  it('serves the panel for the token, and the token is a session of the desktop org', async () => {
    const page = await fetch(running.uiUrl!);
    expect(page.status).toBe(200);
    expect(await page.text()).toBe(INDEX);
    expect((await fetch(`${running.url}/`)).status).toBe(401);
    const token = url.searchParams.get('token')!;
    const balance = await fetch(`${running.url}/api/v1/billing/balance`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(balance.status).toBe(200);
    expect(((await balance.json()) as { quota: { plan: { id: string } } }).quota.plan.id).toBe('free');
  });

  it('refuses API requests with a foreign Host or Origin (DNS rebinding)', async () => {
    const health = `${running.url}/api/v1/health`;
    expect((await raw(health)).status).toBe(200);
    expect((await raw(health, { host: `localhost:${url.port}` })).status).toBe(200);
    for (const headers of <Record<string, string>[]>[
      { host: `evil.example:${url.port}` },
      { host: `127.0.0.1:${Number(url.port) + 1}` },
      { origin: 'http://evil.example' },
      { origin: `http://127.0.0.1:${url.port}.evil.example` },
    ]) {
      const res = await raw(health, headers);
      expect(res.status, JSON.stringify(headers)).toBe(401);
      expect(JSON.parse(res.body)).toEqual({
        error: 'UNAUTHORIZED',
        message: 'Host or Origin is not this local engine',
      });
    }
    expect((await raw(health, { origin: running.url })).status).toBe(200);
  });

  it('leaves the webhooks to their own authentication (servers call them by any name)', async () => {
    const res = await raw(
      `${running.url}/webhooks/evolution`,
      { host: 'host.docker.internal:7420', 'content-type': 'application/json' },
      'POST',
    );
    expect(res.body).not.toContain('Host or Origin');
    expect(JSON.parse(res.body)).toMatchObject({ error: 'UNAVAILABLE' });
  });
});

describe('start --ui refusals', () => {
  it('refuses a non-loopback address, explaining why, and leaves the data dir free', async () => {
    const config = engineConfig('remote', { ENGINE_HOST: '0.0.0.0' });
    const err = await runEngine(config, log, undefined, { ui: { rootDir: uiDir } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('VALIDATION_ERROR');
    expect((err as Error).message).toMatch(/token travels in its URL over plain HTTP/);
    expect((err as Error).message).toMatch(/--ui-allow-remote/);
    const plain = await runEngine(config, log);
    await plain.stop(0);
  });

  it('refuses to serve a panel that is not built', async () => {
    const err = await runEngine(engineConfig('unbuilt'), log, undefined, {
      ui: { rootDir: join(root, 'nothing-here') },
    }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/not built .*npm start/);
  });

  it('checks the flags on the command line (exit 2)', () => {
    const cli = (args: string[], env: Record<string, string> = {}) =>
      spawnSync(process.execPath, [join(ROOT, 'bin/agencia-desk-engine.js'), ...args], {
        encoding: 'utf8',
        timeout: 20_000,
        env: { ...process.env, AGENCIA_DATA_DIR: join(root, 'cli'), LOG_LEVEL: 'silent', ...env },
      });
    const lonely = cli(['start', '--ui-allow-remote']);
    expect(lonely.status).toBe(2);
    expect(lonely.stderr).toContain('--ui-dir and --ui-allow-remote go with --ui');
    const remote = cli(['start', '--ui', '--ui-dir', uiDir, '--host', '0.0.0.0']);
    expect(remote.status).toBe(2);
    expect(remote.stderr).toMatch(/--ui on 0\.0\.0\.0 refused/);
  });
});

describe('start --ui --ui-allow-remote', () => {
  it('answers to this machine’s addresses, and to nothing else', async () => {
    const running = await runEngine(engineConfig('allowed', { ENGINE_HOST: '0.0.0.0' }), log, undefined, {
      ui: { rootDir: uiDir, allowRemote: true },
    });
    try {
      const url = new URL(running.uiUrl!);
      expect(url.hostname).toBe('127.0.0.1');
      expect((await fetch(running.uiUrl!)).status).toBe(200);
      const health = `http://127.0.0.1:${url.port}/api/v1/health`;
      expect((await raw(health, { host: `evil.example:${url.port}` })).status).toBe(401);
      const lan = lanAddress();
      if (lan) expect((await raw(health, { host: `${lan}:${url.port}` })).status).toBe(200);
    } finally {
      await running.stop(0);
    }
  });
});
