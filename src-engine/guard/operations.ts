import type { z } from 'zod';
import { readRunLog, type AgentRunCanceller } from '../cage/agent-worker.ts';
import type { Health } from '../contracts/health.ts';
import type { Cycle } from '../contracts/ledger.ts';
import { SmartSendSettingsSchema, type SmartSendSettings } from '../contracts/smartsend.ts';
import {
  OPERATIONS,
  type OperationInput,
  type OperationName,
  type OperationOutput,
} from '../contracts/operations.ts';
import type { Sqlite } from '../db/connection.ts';
import { AppError, parseOrThrow } from '../errors.ts';
import type { Charges } from '../ledger/charges.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { ReferralsRead } from '../ledger/sync/referrals.ts';
import type { Quotas } from '../ledger/quota.ts';
import type { JobQueue } from '../queue/port.ts';
import { toAiVoices, type KokoroClient } from '../gateways/kokoro/index.ts';
import { toAiModels, type OllamaClient } from '../gateways/ollama/index.ts';
import { pacingContext } from '../smartsend/pacing.ts';
import { createSqliteState } from '../smartsend/sqlite-state.ts';
import { addInstanceCommand } from './commands/add-instance.ts';
import { runAgentCommand } from './commands/run-agent.ts';
import { sendMessageCommand } from './commands/send-message.ts';
import { setBrandingCommand } from './commands/set-branding.ts';
import type { Command, Guard, Query } from './pipeline.ts';
import {
  toAgentRun,
  toAlert,
  instancePacing,
  toInstance,
  toMessage,
  type AgentRunRow,
  type AlertRow,
  type InstanceRow,
  type MessageRow,
} from './rows.ts';

export interface OperationsDeps {
  sqlite: Sqlite;
  guard: Guard;
  ledger: Ledger;
  quotas: Quotas;
  charges: Charges;
  queue: JobQueue;
  health: () => Promise<Health>;
  ollama: OllamaClient;
  kokoro: KokoroClient;
  /** SmartSend's settings, for each number's cap and next slot in the instances list (default: the defaults). */
  smartsend?: SmartSendSettings;
  /**
   * Cancels agent runs: the `agent.run` worker in the engine that holds the data-dir lock, else one
   * that cancels queued runs only (a running run is stopped by the process that runs it).
   */
  agents?: AgentRunCanceller;
  /** The hosted ledger's referral report; absent when LEDGER_URL or LEDGER_TOKEN is unset. */
  referrals?: (orgId: string) => Promise<ReferralsRead>;
  now?: () => number;
}

/** Calls any operation of `OPERATIONS` by name, through the guard; what IPC and HTTP both use. */
export interface Operations {
  call<N extends OperationName>(
    name: N,
    input: OperationInput<N> | unknown,
    credential: string | undefined,
  ): Promise<OperationOutput<N>>;
}

type Input<N extends OperationName> = z.output<(typeof OPERATIONS)[N]['input']>;
type Handler<N extends OperationName> =
  | { command: Command<(typeof OPERATIONS)[N]['input'], OperationOutput<N>> }
  | { query: Query<(typeof OPERATIONS)[N]['input'], OperationOutput<N>> }
  | { public: (input: Input<N>) => Promise<OperationOutput<N>> };

/** Keyset cursor over (created_at, id), newest first. */
const encodeCursor = (createdAt: number, id: string) =>
  Buffer.from(`${createdAt}|${id}`).toString('base64url');
function decodeCursor(cursor: string | undefined): { at: number; id: string } | null {
  if (!cursor) return null; // `?cursor=` (empty) is the first page, as for every list

  const m = /^(\d{1,16})\|(.{1,200})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!m) throw new AppError('VALIDATION_ERROR', 'Invalid cursor', { cursor });
  return { at: Number(m[1]), id: m[2]! };
}

export function createOperations(deps: OperationsDeps): Operations {
  const { sqlite, guard, ledger, quotas, queue } = deps;
  const st = {
    message: sqlite.prepare<[string, string], MessageRow>(
      `SELECT * FROM sent_messages WHERE id = ? AND org_id = ?`,
    ),
    instances: sqlite.prepare<[string], InstanceRow>(
      `SELECT * FROM whatsapp_instances WHERE org_id = ? ORDER BY created_at, id`,
    ),
    run: sqlite.prepare<[string, string], AgentRunRow>(
      `SELECT * FROM agent_runs WHERE id = ? AND org_id = ?`,
    ),
    runs: sqlite.prepare<{ org: string; at: number | null; id: string | null; limit: number }, AgentRunRow>(
      `SELECT * FROM agent_runs WHERE org_id = @org
         AND (@at IS NULL OR created_at < @at OR (created_at = @at AND id < @id))
       ORDER BY created_at DESC, id DESC LIMIT @limit`,
    ),
    alerts: sqlite.prepare<{ org: string; at: number | null; id: string | null; limit: number }, AlertRow>(
      `SELECT * FROM alerts WHERE org_id = @org
         AND (@at IS NULL OR created_at < @at OR (created_at = @at AND id < @id))
       ORDER BY created_at DESC, id DESC LIMIT @limit`,
    ),
    branding: sqlite.prepare<[string], { name: string; accent_color: string; logo: string | null }>(
      `SELECT name, accent_color, logo FROM branding WHERE org_id = ?`,
    ),
    // Commissions are credited by the hosted ledger; the sync's pull writes them here, at the server's
    // time. A reversed one comes as a signed ADJUSTMENT whose reference starts with its kind
    // (ledger/sync/authority.ts, localTransferOf): it takes its amount off; `n` counts commissions.
    commissions: sqlite.prepare<[string, number, number], { micro: number; n: number }>(
      `SELECT coalesce(sum(amount_micro), 0) AS micro, coalesce(sum(kind = 'COMMISSION'), 0) AS n
       FROM ledger_transfers
       WHERE org_id = ? AND created_at >= ? AND created_at < ?
         AND (kind = 'COMMISSION'
              OR (kind = 'ADJUSTMENT' AND (reference = 'COMMISSION' OR reference LIKE 'COMMISSION: %')))`,
    ),
  };
  // SmartSend's per-number state, read for the instances list.
  const pacing = createSqliteState({ sqlite });
  const smartsendSettings = deps.smartsend ?? SmartSendSettingsSchema.parse({});
  const found = <T>(row: T | undefined, what: string, id: string): T => {
    if (!row) throw new AppError('NOT_FOUND', `No ${what} ${JSON.stringify(id)}`);
    return row;
  };
  /** A dead letter of this org, or NOT_FOUND (another org's is as good as missing). */
  async function ownDeadLetter(orgId: string, id: string) {
    const d = await queue.deadLetters.get(id);
    if (!d || (d.payload as { orgId?: unknown } | null)?.orgId !== orgId) {
      throw new AppError('NOT_FOUND', `No dead letter ${JSON.stringify(id)}`);
    }
    return d;
  }
  /** One page of `rows` fetched with `limit + 1`: the extra row only says there is a next page. */
  function page<R, T extends { createdAt: number; id: string }>(rows: R[], limit: number, to: (r: R) => T) {
    const items = rows.slice(0, limit).map(to);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.createdAt, last.id) : null };
  }
  const ownRun = (orgId: string, id: string) => found(st.run.get(id, orgId), 'agent run', id);
  /** COMMISSION credited to the org in `cycle`: local, so the Panel shows it offline too. */
  function cycleCommissions(orgId: string, cycle: Cycle) {
    const earned = st.commissions.get(orgId, cycle.startsAt, cycle.endsAt)!;
    return { cycle, amountMicro: earned.micro, count: earned.n };
  }
  const FINISHED = new Set(['success', 'error', 'timeout', 'cancelled']);
  /**
   * A queued run ends `cancelled` at once; a running one is stopped by its worker and ends
   * `cancelled` shortly (an `agent.status` event says when). Either way its hold is released.
   */
  function cancelRun(orgId: string, id: string) {
    const ended = (status: string) =>
      new AppError('CONFLICT', `Agent run ${JSON.stringify(id)} already ended (${status})`, { status });
    const before = ownRun(orgId, id);
    if (FINISHED.has(before.status)) throw ended(before.status);
    if (!deps.agents?.cancel(id)) {
      const now = ownRun(orgId, id);
      if (FINISHED.has(now.status)) throw ended(now.status);
      // Only the process that runs a cage can stop it (the engine holding the data-dir lock).
      throw new AppError(
        'UNAVAILABLE',
        `Agent run ${JSON.stringify(id)} is running in another engine process; cancel it there`,
      );
    }
    return toAgentRun(ownRun(orgId, id));
  }
  const query = <N extends OperationName>(
    name: N,
    run: (orgId: string, input: Input<N>) => OperationOutput<N> | Promise<OperationOutput<N>>,
  ) =>
    ({
      query: { name, schema: OPERATIONS[name].input, run: (p, input) => run(p.orgId, input) },
    }) as Handler<N>;

  const handlers: { [N in OperationName]: Handler<N> } = {
    'health:get': { public: () => deps.health() },
    'whatsapp:send': { command: sendMessageCommand(deps) },
    'whatsapp:message': query('whatsapp:message', (orgId, { id }) =>
      toMessage(found(st.message.get(id, orgId), 'message', id)),
    ),
    'whatsapp:instances': query('whatsapp:instances', (orgId) => {
      const ctx = pacingContext(smartsendSettings, pacing.timeZone(orgId));
      const at = (deps.now ?? Date.now)();
      const states = new Map(pacing.instances(orgId).map((s) => [s.instanceId, s]));
      return {
        items: st.instances.all(orgId).map((r) => {
          const state = states.get(r.id);
          return { ...toInstance(r), ...(state && instancePacing(state, ctx, at)) };
        }),
      };
    }),
    'whatsapp:addInstance': {
      command: addInstanceCommand({ ...deps, smartsend: smartsendSettings }),
    },
    'agents:run': { command: runAgentCommand(deps) },
    'agents:get': query('agents:get', (orgId, { id }) => toAgentRun(ownRun(orgId, id))),
    'agents:list': query('agents:list', (orgId, { cursor, limit }) => {
      const c = decodeCursor(cursor);
      const rows = st.runs.all({ org: orgId, at: c?.at ?? null, id: c?.id ?? null, limit: limit + 1 });
      return page(rows, limit, toAgentRun);
    }),
    'agents:logs': query('agents:logs', (orgId, { id, afterSeq, limit }) => {
      ownRun(orgId, id);
      const lines = readRunLog(sqlite, id, { afterSeq, limit: limit + 1 });
      const items = lines.slice(0, limit);
      return { items, nextSeq: lines.length > limit ? (items.at(-1)?.seq ?? null) : null };
    }),
    'agents:cancel': query('agents:cancel', (orgId, { id }) => cancelRun(orgId, id)),
    'ai:models': query('ai:models', async () => {
      const [tags, ps] = await Promise.all([deps.ollama.tags(), deps.ollama.ps()]);
      return { models: toAiModels(tags, ps) };
    }),
    'ai:voices': query('ai:voices', async () => ({ voices: toAiVoices(await deps.kokoro.voices()) })),
    'billing:balance': query('billing:balance', (orgId) => {
      const quota = quotas.quota(orgId);
      const { amountMicro, count } = cycleCommissions(orgId, quota.cycle);
      return { ...ledger.balance(orgId), quota, commissions: { amountMicro, count } };
    }),
    'billing:transactions': query('billing:transactions', (orgId, { cursor, limit }) =>
      ledger.listTransfers(orgId, { cursor, limit }),
    ),
    'billing:referrals': query('billing:referrals', async (orgId) => {
      const commissions = cycleCommissions(orgId, quotas.cycle(orgId));
      if (!deps.referrals)
        return {
          source: 'unconfigured' as const,
          report: null,
          fetchedAt: null,
          error: 'LEDGER_URL and LEDGER_TOKEN are not set',
          commissions,
        };
      return { ...(await deps.referrals(orgId)), commissions };
    }),
    'compliance:alerts': query('compliance:alerts', (orgId, { cursor, limit }) => {
      const c = decodeCursor(cursor);
      const rows = st.alerts.all({ org: orgId, at: c?.at ?? null, id: c?.id ?? null, limit: limit + 1 });
      return page(rows, limit, toAlert);
    }),
    'dlq:list': query('dlq:list', (orgId, input) => queue.deadLetters.list({ ...input, orgId })),
    'dlq:retry': query('dlq:retry', async (orgId, { id }) =>
      queue.deadLetters.retry((await ownDeadLetter(orgId, id)).id),
    ),
    'dlq:resolve': query('dlq:resolve', async (orgId, { id }) =>
      queue.deadLetters.resolve((await ownDeadLetter(orgId, id)).id),
    ),
    'branding:get': query('branding:get', (orgId) => {
      const row = st.branding.get(orgId);
      return {
        branding: row ? { name: row.name, accentColor: row.accent_color, logo: row.logo } : null,
        allowed: quotas.orgPlan(orgId).whiteLabel,
      };
    }),
    'branding:set': { command: setBrandingCommand(deps) },
  };

  return {
    async call(name, input, credential) {
      // Own names only: `constructor`, `toString`... are no operations.
      const h = Object.hasOwn(handlers, name) ? (handlers[name] as Handler<typeof name>) : undefined;
      if (!h) throw new AppError('NOT_FOUND', `No operation ${JSON.stringify(name)}`);
      if ('public' in h) return h.public(parseOrThrow(OPERATIONS[name].input, input ?? {}, name) as never);
      if ('command' in h) return guard.command(h.command, input, credential);
      return guard.query(h.query, input ?? {}, credential);
    },
  };
}
