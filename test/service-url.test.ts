// Services behind a reverse proxy at a path (`http://gpu-box/ollama`): every client and health probe
// keeps the configured path. A small proxy on loopback serves each backend under its prefix only.
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvolutionClient } from '../src-engine/gateways/evolution/client.ts';
import { createKokoroClient } from '../src-engine/gateways/kokoro/index.ts';
import { createOllamaClient } from '../src-engine/gateways/ollama/index.ts';
import { serviceChecks } from '../src-engine/health-checks.ts';
import { serviceUrl } from '../src-engine/service-url.ts';
import { createSyncClient } from '../src-engine/ledger/sync/client.ts';
import type { LedgerServer } from '../src-ledger/server.ts';
import { client as ledgerAdmin, startTestLedger } from './ledger-server/support.ts';
import { startEvolutionSim, type EvolutionSim } from './sim/evolution/index.ts';
import { startKokoroSim } from './sim/kokoro/index.ts';
import { startOllamaSim } from './sim/ollama/index.ts';

/** Forwards `/<prefix>/rest` to `backends[prefix]/rest`; anything else is 404. Records what it saw. */
async function startPrefixProxy(backends: Record<string, string>) {
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const m = /^\/([^/]+)(\/.*)?$/.exec(req.url ?? '');
    const target = m && backends[m[1]!];
    if (!target) {
      res.writeHead(404).end('not here');
      return;
    }
    const to = new URL(m[2] ?? '/', target);
    const out = request(to, { method: req.method, headers: { ...req.headers, host: to.host } }, (back) => {
      res.writeHead(back.statusCode ?? 502, back.headers);
      back.pipe(res);
    });
    out.on('error', () => res.writeHead(502).end());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

let proxy: Awaited<ReturnType<typeof startPrefixProxy>>;
let evolution: EvolutionSim;
let ledger: LedgerServer;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  const [ollama, kokoro] = await Promise.all([startOllamaSim(), startKokoroSim()]);
  evolution = await startEvolutionSim({ instances: ['ventas-1'] });
  ledger = await startTestLedger(undefined);
  closers.push(
    () => ollama.close(),
    () => kokoro.close(),
    () => evolution.close(),
    () => ledger.close(),
  );
  proxy = await startPrefixProxy({
    ollama: ollama.url,
    kokoro: kokoro.url,
    evo: evolution.url,
    ledger: ledger.url,
  });
  closers.push(() => proxy.close());
}, 30_000);

afterAll(async () => {
  await Promise.allSettled(closers.reverse().map((c) => c()));
});

describe('service URLs with a path', () => {
  it('joins a path and its query under the base, keeping the base path and query', () => {
    const at = (base: string, path: string) => serviceUrl(base, path).href;
    expect(at('http://p:1', '/api/chat')).toBe('http://p:1/api/chat');
    expect(at('http://p/ollama', '/api/chat')).toBe('http://p/ollama/api/chat');
    expect(at('http://p/ollama/', 'api/chat')).toBe('http://p/ollama/api/chat');
    expect(at('http://p/evo?k=1', '/instance/fetchInstances')).toBe(
      'http://p/evo/instance/fetchInstances?k=1',
    );
    expect(at('http://p/evo#x', '/instance/fetchInstances')).toBe('http://p/evo/instance/fetchInstances');
    expect(at('http://p/ledger?k=1', 'v1/sync/pull?cursor=a%2Bb&limit=5')).toBe(
      'http://p/ledger/v1/sync/pull?k=1&cursor=a%2Bb&limit=5',
    );
    expect(at('http://p/evo', `/instance/connectionState/${encodeURIComponent('ventas 1/2')}`)).toBe(
      'http://p/evo/instance/connectionState/ventas%201%2F2',
    );
  });

  it('reaches Ollama, Kokoro, Evolution and the hosted ledger under their prefixes', async () => {
    const ollama = createOllamaClient({ baseUrl: `${proxy.url}/ollama`, timeoutMs: 2_000 });
    expect(await ollama.version()).toMatch(/\d/);
    const kokoro = createKokoroClient({ baseUrl: `${proxy.url}/kokoro/`, timeoutMs: 2_000 });
    await kokoro.health();
    const evo = createEvolutionClient({ baseUrl: `${proxy.url}/evo`, apiKey: evolution.apiKey });
    expect((await evo.fetchInstances()).map((i) => i.name)).toContain('ventas-1');

    const admin = ledgerAdmin(ledger.url);
    const org = await admin.createOrg('Agencia con proxy');
    const { token } = await admin.issueDevice(org.id);
    const sync = createSyncClient({ baseUrl: `${proxy.url}/ledger`, token });
    expect((await sync.push({ lastPushedSeq: 0, entries: [] })).orgId).toBe(org.id);

    // Nothing went to the proxy's root: every request kept its prefix.
    expect(proxy.seen.filter((r) => !/^\w+ \/(ollama|kokoro|evo|ledger)\//.test(r))).toEqual([]);
  });

  it('probes Evolution and the hosted ledger under their prefixes in the health check', async () => {
    const checks = serviceChecks(
      {
        evolutionUrl: `${proxy.url}/evo`,
        ledgerUrl: `${proxy.url}/ledger`,
      } as Parameters<typeof serviceChecks>[0],
      {
        ollama: createOllamaClient({ baseUrl: `${proxy.url}/ollama`, timeoutMs: 2_000 }),
        kokoro: createKokoroClient({ baseUrl: `${proxy.url}/kokoro`, timeoutMs: 2_000 }),
        cage: { health: async () => ({ status: 'disabled', reason: 'not under test' }) },
      },
    );
    const got = await checks();
    expect(got.evolution).toEqual({ status: 'healthy' });
    expect(got.ledger).toEqual({ status: 'healthy' });
    expect(got.ollama).toEqual({ status: 'healthy' });
    expect(got.kokoro).toEqual({ status: 'healthy' });
  });
});
