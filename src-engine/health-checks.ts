import { request } from 'node:http';
import type { EngineConfig } from './config/index.ts';
import type { Check } from './contracts/health.ts';
import { errorMessage } from './errors.ts';
import type { KokoroClient } from './gateways/kokoro/index.ts';
import type { OllamaClient } from './gateways/ollama/index.ts';

/** Probes answer within this, so `/health` stays fast when a service is down. */
const PROBE_TIMEOUT_MS = 1_500;

async function probe(fn: () => Promise<void>): Promise<Check> {
  try {
    await fn();
    return { status: 'healthy' };
  } catch (err) {
    return { status: 'unhealthy', reason: errorMessage(err) };
  }
}

async function httpOk(url: string, init: RequestInit = {}): Promise<void> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
  await res.body?.cancel();
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
}

/** Where the Docker engine listens: DOCKER_HOST (`unix://`, `tcp://`) or the default socket. */
export function dockerEndpoint(dockerHost: string | undefined): { socketPath: string } | { url: string } {
  if (!dockerHost) {
    return { socketPath: process.platform === 'win32' ? '//./pipe/docker_engine' : '/var/run/docker.sock' };
  }
  if (dockerHost.startsWith('unix://')) return { socketPath: dockerHost.slice('unix://'.length) };
  if (dockerHost.startsWith('npipe://')) return { socketPath: dockerHost.slice('npipe:'.length) };
  return { url: dockerHost.replace(/^tcp:/, 'http:') };
}

function dockerPing(dockerHost: string | undefined): Promise<void> {
  const endpoint = dockerEndpoint(dockerHost);
  if ('url' in endpoint) return httpOk(new URL('/_ping', endpoint.url).href);
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: endpoint.socketPath, path: '/_ping', timeout: PROBE_TIMEOUT_MS },
      (res) => {
        res.resume();
        if (res.statusCode === 200) resolve();
        else reject(new Error(`Docker answered ${res.statusCode}`));
      },
    );
    req.on('timeout', () => req.destroy(new Error('Docker did not answer in time')));
    req.on('error', reject);
    req.end();
  });
}

const disabled = (reason: string): Promise<Check> => Promise.resolve({ status: 'disabled', reason });

/** Checks of the services the engine uses; none of them makes the engine itself unhealthy. */
export function serviceChecks(
  services: EngineConfig['services'],
  clients: { ollama: OllamaClient; kokoro: KokoroClient },
) {
  return async (): Promise<Record<'docker' | 'ollama' | 'kokoro' | 'evolution' | 'ledger', Check>> => {
    const [docker, ollama, kokoro, evolution, ledger] = await Promise.all([
      probe(() => dockerPing(services.dockerHost)),
      probe(
        async () => void (await clients.ollama.version({ signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) })),
      ),
      probe(
        async () => void (await clients.kokoro.health({ signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) })),
      ),
      services.evolutionUrl
        ? probe(() => httpOk(new URL('/', services.evolutionUrl).href))
        : disabled('EVOLUTION_URL is not set'),
      services.ledgerUrl
        ? probe(() => httpOk(new URL('/health', services.ledgerUrl).href))
        : disabled('LEDGER_URL is not set: local ledger only'),
    ]);
    return { docker, ollama, kokoro, evolution, ledger };
  };
}
