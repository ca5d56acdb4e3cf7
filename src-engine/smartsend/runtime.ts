import type { Compliance } from '../compliance/alerts.ts';
import type { EngineEvent } from '../contracts/events.ts';
import type { SmartSendSettings } from '../contracts/smartsend.ts';
import type { Sqlite } from '../db/connection.ts';
import type { CommitEmitter, EventBus } from '../events.ts';
import type { EvolutionClient, WebhookAuthOptions } from '../gateways/evolution/index.ts';
import type { Charges } from '../ledger/charges.ts';
import type { Logger } from '../logger.ts';
import type { JobQueue } from '../queue/port.ts';
import { createMessageStore } from './messages.ts';
import { createSmartSend, type SmartSend } from './planner.ts';
import { createSqliteState, healthHistory } from './sqlite-state.ts';
import { createWebhookHandler, type WebhookEvent } from './webhook-handler.ts';
import { createSendHandler, type SendJob } from './worker.ts';

export const SEND_QUEUE = 'whatsapp.send';
export const TICK_QUEUE = 'smartsend.tick';
/** Cooldowns and warm-up days end on the minute after they are due. */
const TICK_CRON = '* * * * *';
/** Sends in flight at once: each holds its request for the "composing" time of its message. */
const SEND_CONCURRENCY = 8;

export interface SmartSendRuntime {
  smartSend: SmartSend;
  /** The Evolution webhook: its credentials and what to do with an authenticated, parsed event. */
  webhook: { auth: WebhookAuthOptions; handle(event: WebhookEvent): Promise<void> };
}

export interface SmartSendRuntimeDeps {
  sqlite: Sqlite;
  queue: JobQueue;
  evolution: EvolutionClient;
  charges: Charges;
  compliance: Compliance;
  settings: SmartSendSettings;
  auth: WebhookAuthOptions;
  bus: EventBus<EngineEvent>;
  /** Ledger events raised inside the message transactions wait here for the commit. */
  txEvents: CommitEmitter<EngineEvent>;
  log: Logger;
}

/** Wires SmartSend into the engine: SQLite state, the `whatsapp.send` worker, the health tick, the webhook. */
export async function startSmartSend(deps: SmartSendRuntimeDeps): Promise<SmartSendRuntime> {
  const { sqlite, queue, log } = deps;
  const record = healthHistory(sqlite);
  const smartSend = createSmartSend({
    state: createSqliteState({ sqlite }),
    settings: deps.settings,
    // Production pacing wants unpredictability; tests of the planner seed their own.
    random: Math.random,
    events: {
      emit(e) {
        record(e);
        deps.bus.emit(e);
      },
    },
  });
  const messages = createMessageStore({ sqlite, charges: deps.charges, events: deps.txEvents });

  queue.process<SendJob>(
    SEND_QUEUE,
    createSendHandler({
      sqlite,
      messages,
      smartSend,
      evolution: deps.evolution,
      log: log.child({ module: 'smartsend' }),
    }),
    { concurrency: SEND_CONCURRENCY },
  );

  const orgsWithInstances = sqlite.prepare<[], { org_id: string }>(
    `SELECT DISTINCT org_id FROM whatsapp_instances ORDER BY org_id`,
  );
  queue.process(TICK_QUEUE, async () => {
    const changes = orgsWithInstances.all().flatMap((o) => smartSend.tick(o.org_id));
    return { changes: changes.length };
  });
  await queue.schedule(TICK_QUEUE, { key: 'health', cron: TICK_CRON });

  return {
    smartSend,
    webhook: {
      auth: deps.auth,
      handle: createWebhookHandler({
        sqlite,
        messages,
        smartSend,
        compliance: deps.compliance,
        queue,
        log: log.child({ module: 'evolution-webhook' }),
      }),
    },
  };
}
