import type { CageEngine } from './cage/cage-engine.ts';
import type { EngineConfig } from './config/index.ts';
import type { Check } from './contracts/health.ts';
import { errorMessage } from './errors.ts';
import type { KokoroClient } from './gateways/kokoro/index.ts';
import type { OllamaClient } from './gateways/ollama/index.ts';
import { serviceUrl } from './service-url.ts';

/** Probes answer within this, so `/health` stays fast when a service is down. */
const PROBE_TIMEOUT_MS = 1_500;

export async function probe(fn: () => Promise<void>): Promise<Check> {
  try {
    await fn();
    return { status: 'healthy' };
  } catch (err) {
    const error = errorMessage(err);
    return { status: 'unhealthy', reason: error, detail: { code: 'unreachable', error } };
  }
}

async function httpOk(url: string, init: RequestInit = {}): Promise<void> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
  await res.body?.cancel();
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
}

const notConfigured = (setting: string, reason: string): Promise<Check> =>
  Promise.resolve({ status: 'disabled', reason, detail: { code: 'not_configured', setting } });

/** Checks of the services the engine uses; none of them makes the engine itself unhealthy. */
export function serviceChecks(
  services: EngineConfig['services'],
  clients: { ollama: OllamaClient; kokoro: KokoroClient; cage: Pick<CageEngine, 'health'> },
  /** The hosted-ledger sync's own verdict (last sync, offline grace) when it is configured. */
  ledgerSync?: { health(): Check },
) {
  return async (): Promise<Record<'docker' | 'ollama' | 'kokoro' | 'evolution' | 'ledger', Check>> => {
    const { evolutionUrl, ledgerUrl } = services;
    const [docker, ollama, kokoro, evolution, ledger] = await Promise.all([
      // Docker, and whether the cage image is built: agent runs need both.
      clients.cage.health(PROBE_TIMEOUT_MS),
      probe(
        async () => void (await clients.ollama.version({ signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) })),
      ),
      probe(
        async () => void (await clients.kokoro.health({ signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) })),
      ),
      evolutionUrl
        ? probe(() => httpOk(serviceUrl(evolutionUrl, '/').href))
        : notConfigured('EVOLUTION_URL', 'EVOLUTION_URL is not set'),
      !ledgerUrl
        ? notConfigured('LEDGER_URL', 'LEDGER_URL is not set: local ledger only')
        : ledgerSync
          ? Promise.resolve(ledgerSync.health())
          : probe(() => httpOk(serviceUrl(ledgerUrl, '/health').href)),
    ]);
    return { docker, ollama, kokoro, evolution, ledger };
  };
}
