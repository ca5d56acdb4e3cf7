import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiServer } from '../../src-engine/api/server.ts';
import {
  UI_COOKIE,
  cspOf,
  isAllowedHost,
  isAllowedOrigin,
  staticUi,
} from '../../src-engine/api/static-ui.ts';
import { loadConfig } from '../../src-engine/config/index.ts';
import { createEngine, type Engine } from '../../src-engine/engine.ts';
import { createLogger } from '../../src-engine/logger.ts';

const TOKEN = 'ads_test-token-0123456789abcdefghijklmnopqrstuv';
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'";
const INDEX = `<!doctype html><html><head>
<meta
  http-equiv="Content-Security-Policy"
  content="${CSP}"
/>
<script type="module" src="./assets/app-1a2b3c.js"></script></head><body></body></html>`;

let root: string;
let engine: Engine;
let app: FastifyInstance;
let port = 0;
let base: string;

/** A raw HTTP request (fetch cannot set Host), answering status, headers and body. */
function raw(path: string, headers: Record<string, string> = {}, method = 'GET') {
  return new Promise<{
    status: number;
    headers: Record<string, string | string[] | undefined>;
    body: string;
  }>((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers }, (res) => {
      let body = '';
      res.on('data', (d) => (body += String(d)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function cookieFrom(setCookie: string | string[] | undefined): string {
  const first = Array.isArray(setCookie) ? setCookie[0] : setCookie;
  return first!.split(';')[0]!;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'agencia-static-'));
  mkdirSync(join(root, 'assets'));
  writeFileSync(join(root, 'index.html'), INDEX);
  writeFileSync(join(root, 'assets', 'app-1a2b3c.js'), 'console.log("ui")');
  writeFileSync(join(root, 'assets', 'app-4d5e6f.css'), 'body{}');
  writeFileSync(join(root, 'secret.txt'), 'outside assets');
  engine = await createEngine({
    config: loadConfig({ AGENCIA_DATA_DIR: join(root, 'data') }),
    log: createLogger('engine', { level: 'silent' }),
  });
  // Registered on the engine's own API server, as `start --ui` does.
  app = await createApiServer(engine);
  await app.register(staticUi, { rootDir: root, token: TOKEN, port: () => port });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  port = typeof addr === 'object' && addr ? addr.port : 0;
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await app.close();
  await engine.close(0);
  rmSync(root, { recursive: true, force: true });
});

describe('static UI: session token', () => {
  it('refuses the page without the token, in the shared error shape', async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'UNAUTHORIZED' });
    expect((await fetch(`${base}/?token=wrong`)).status).toBe(401);
    expect((await fetch(`${base}/assets/app-1a2b3c.js`)).status).toBe(401);
  });

  it('serves the page for ?token= with a strict cookie that is not the token', async () => {
    const res = await fetch(`${base}/?token=${TOKEN}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toBe(`${CSP}; frame-ancestors 'none'`);
    expect(await res.text()).toBe(INDEX);
    const setCookie = res.headers.get('set-cookie')!;
    expect(setCookie).toMatch(
      new RegExp(`^${UI_COOKIE}=[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Strict$`),
    );
    expect(setCookie).not.toContain(TOKEN);
  });

  it('serves assets and reloads with the cookie, with content types and caching', async () => {
    const cookie = cookieFrom((await raw(`/?token=${TOKEN}`)).headers['set-cookie']);
    const js = await fetch(`${base}/assets/app-1a2b3c.js`, { headers: { cookie } });
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toBe('private, max-age=31536000, immutable');
    expect(await js.text()).toBe('console.log("ui")');
    const css = await fetch(`${base}/assets/app-4d5e6f.css`, { headers: { cookie } });
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    const reload = await fetch(`${base}/`, { headers: { cookie } });
    expect(reload.status).toBe(200);
    const head = await raw('/assets/app-1a2b3c.js', { cookie }, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    const forged = await fetch(`${base}/`, { headers: { cookie: `${UI_COOKIE}=${TOKEN}` } });
    expect(forged.status).toBe(401);
  });

  it('answers missing files and escapes from assets/ with 404 in the shared shape', async () => {
    const cookie = cookieFrom((await raw(`/?token=${TOKEN}`)).headers['set-cookie']);
    for (const path of [
      '/assets/nope.js',
      '/assets/..%2Fsecret.txt',
      '/assets/%2e%2e/secret.txt',
      '/assets/',
    ]) {
      const res = await raw(path, { cookie });
      expect(res.status, path).toBe(404);
      expect(JSON.parse(res.body), path).toMatchObject({ error: 'NOT_FOUND' });
      expect(res.body).not.toContain('outside assets');
    }
  });
});

describe('static UI: DNS rebinding', () => {
  it('accepts only loopback Host headers naming our port', async () => {
    const ok = await raw(`/?token=${TOKEN}`, { host: `localhost:${port}` });
    expect(ok.status).toBe(200);
    for (const host of ['evil.example:80', `evil.example:${port}`, `127.0.0.1:${port + 1}`, '127.0.0.1']) {
      const res = await raw(`/?token=${TOKEN}`, { host });
      expect(res.status, host).toBe(401);
      expect(JSON.parse(res.body)).toMatchObject({ error: 'UNAUTHORIZED' });
    }
  });

  it('refuses a foreign Origin even with the token', async () => {
    const res = await raw(`/?token=${TOKEN}`, { origin: 'http://evil.example' });
    expect(res.status).toBe(401);
    expect((await raw(`/?token=${TOKEN}`, { origin: `http://127.0.0.1:${port}` })).status).toBe(200);
  });

  it('leaves the rest of the server alone', async () => {
    const res = await raw('/api/v1/health', { host: 'evil.example' });
    expect(res.status).toBe(200);
  });

  it('has pure checks for Host and Origin', () => {
    expect(isAllowedHost('LOCALHOST:7420', 7420)).toBe(true);
    expect(isAllowedHost('[::1]:7420', 7420)).toBe(true);
    expect(isAllowedHost(undefined, 7420)).toBe(false);
    expect(isAllowedHost('127.0.0.1.evil.example:7420', 7420)).toBe(false);
    expect(isAllowedOrigin(undefined, 7420)).toBe(true);
    expect(isAllowedOrigin('null', 7420)).toBe(false);
    expect(isAllowedOrigin('https://127.0.0.1:7420', 7420)).toBe(false);
  });

  it('keeps a CSP that already says who may frame the page', () => {
    const html = `<meta http-equiv="Content-Security-Policy" content="default-src 'self'; frame-ancestors 'self'">`;
    expect(cspOf(html)).toBe("default-src 'self'; frame-ancestors 'self'");
    expect(cspOf('<html></html>')).toContain("frame-ancestors 'none'");
  });
});
