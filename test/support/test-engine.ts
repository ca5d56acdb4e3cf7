import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createApiServer } from '../../src-engine/api/server.ts';
import { loadConfig } from '../../src-engine/config/index.ts';
import { createEngine, type Engine, type EngineOptions } from '../../src-engine/engine.ts';
import { parseCredits } from '../../src-engine/ledger/money.ts';
import { createOrganization } from '../../src-engine/ledger/orgs.ts';
import { createLogger } from '../../src-engine/logger.ts';

export interface TestEngine {
  engine: Engine;
  dir: string;
  /** An org on `plan` with an API key, `credits` of credit and `instances` WhatsApp instances. */
  /** `id`: the org's id (a hosted ledger's org, as `seed --org-id` links it). */
  org(opts?: { plan?: string; credits?: string; instances?: number; id?: string }): Promise<TestOrg>;
  dispose(): Promise<void>;
}

export interface TestOrg {
  orgId: string;
  apiKey: string;
  instanceIds: string[];
}

/**
 * A real engine on a fresh data dir (real SQLite; Redis when `env.REDIS_URL` is given). Without the
 * workers of the engine that holds the data dir's lock, unless `exclusive`, but with its write journal.
 */
export async function startTestEngine(
  env: Record<string, string> = {},
  opts: Partial<Omit<EngineOptions, 'config' | 'log'>> = {},
): Promise<TestEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'agencia-engine-'));
  const engine = await createEngine({
    config: loadConfig({
      AGENCIA_DATA_DIR: dir,
      OLLAMA_URL: 'http://127.0.0.1:9',
      KOKORO_URL: 'http://127.0.0.1:9',
      ...env,
    }),
    log: createLogger('engine', { level: 'silent' }),
    journal: true,
    ...opts,
  });
  // Tests send bursts far above the plans' per-minute limits; rate-limit tests set their own.
  engine.db.sqlite.prepare(`UPDATE plans SET rate_limit_per_min = 1000000`).run();
  // Evolution instances are one per number across orgs: evo-0, evo-1, ... in the order made.
  let evolutionInstances = 0;
  return {
    engine,
    dir,
    async org({ plan = 'free', credits, instances = 1, id } = {}) {
      const orgId = createOrganization(engine.db, { id, name: `Org ${plan}`, planId: plan });
      const apiKey = engine.apiKeys.create(orgId).key;
      if (credits !== undefined) {
        engine.ledger.transfer({
          id: randomUUID(),
          orgId,
          kind: 'ADJUSTMENT',
          amountMicro: parseCredits(credits),
          reference: 'test credit',
        });
      }
      const instanceIds: string[] = [];
      for (let i = 0; i < instances; i++) {
        const inst = await engine.call(
          'whatsapp:addInstance',
          { name: `num-${i}`, evolutionInstance: `evo-${evolutionInstances++}` },
          apiKey,
        );
        instanceIds.push(inst.id);
      }
      return { orgId, apiKey, instanceIds };
    },
    async dispose() {
      await engine.close(0);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TestApi {
  app: FastifyInstance;
  port: number;
  /** e.g. http://127.0.0.1:PORT */
  base: string;
  close(): Promise<void>;
}

/** The engine's real HTTP API, listening on 127.0.0.1 on a free port. */
export async function listenApi(engine: Engine): Promise<TestApi> {
  const app = await createApiServer(engine);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { app, port, base: `http://127.0.0.1:${port}`, close: () => app.close() };
}
