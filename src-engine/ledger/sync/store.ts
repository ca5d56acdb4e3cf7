import { createHash } from 'node:crypto';
import { PushKindSchema, type PushEntry } from '../../contracts/sync.ts';
import type { Sqlite } from '../../db/connection.ts';

/*
 * The sync's SQLite state: the outbox of local usage (`ledger_outbox`) and one `ledger_sync_state` row
 * per endpoint. The outbox row is written by a trigger on `ledger_transfers`, so it commits in the same
 * transaction as the usage it describes, whoever writes it (a worker, the guard, another process).
 * Only usage kinds go out: entries pulled from the server (top-ups, commissions, plan charges,
 * adjustments) and local corrections are never pushed back. A trigger is not something drizzle can
 * express in the schema, so it is created here, idempotently, when the sync starts: usage written
 * before a desktop is linked to a hosted ledger is not the server's business.
 */
const PUSH_KINDS = PushKindSchema.options.map((k) => `'${k}'`).join(', ');

export function installOutboxTrigger(sqlite: Sqlite): void {
  sqlite.exec(
    `CREATE TRIGGER IF NOT EXISTS ledger_outbox_usage AFTER INSERT ON ledger_transfers
     WHEN NEW.kind IN (${PUSH_KINDS})
     BEGIN
       INSERT INTO ledger_outbox (transfer_id, org_id, created_at) VALUES (NEW.id, NEW.org_id, NEW.created_at);
     END`,
  );
}

/** The state row's key: which server and token, without storing the token. */
export const endpointKey = (url: string, token: string): string =>
  createHash('sha256').update(`${url}\n${token}`).digest('hex').slice(0, 32);

/** Which device of the server a token is (the server knows a device by its token alone). */
export const deviceKey = (token: string): string =>
  createHash('sha256').update(`device\n${token}`).digest('hex').slice(0, 32);

export interface SyncStateRow {
  endpoint: string;
  org_id: string | null;
  cursor: string | null;
  last_pushed_seq: number;
  last_sync_at: number | null;
  last_attempt_at: number | null;
  last_error: string | null;
  balance_micro: number | null;
  server_time: number | null;
  created_at: number;
  device: string | null;
  device_usage_cycle: string | null;
  device_usage_messages: number;
  device_usage_ai_runs: number;
}

interface OutboxRow {
  seq: number;
  id: string;
  kind: PushEntry['kind'];
  amount_micro: number;
  reference: string | null;
  created_at: number;
  pushed_created_at: number | null;
}

/** The entry as pushed, at `createdAt` on the server's clock (see `ledger_outbox.pushed_created_at`). */
export const toPushEntry = (r: OutboxRow, createdAt: number): PushEntry => ({
  id: r.id,
  seq: r.seq,
  kind: r.kind,
  amountMicro: r.amount_micro,
  ...(r.reference === null ? {} : { reference: r.reference }),
  createdAt,
});

export function prepareSyncStatements(sqlite: Sqlite) {
  return {
    ensureState: sqlite.prepare<{ endpoint: string; device: string; at: number }>(
      `INSERT INTO ledger_sync_state (endpoint, device, created_at) VALUES (@endpoint, @device, @at)
       ON CONFLICT(endpoint) DO UPDATE SET device = excluded.device`,
    ),
    state: sqlite.prepare<[string], SyncStateRow>(`SELECT * FROM ledger_sync_state WHERE endpoint = ?`),
    link: sqlite.prepare<[string, string]>(`UPDATE ledger_sync_state SET org_id = ? WHERE endpoint = ?`),
    ownUsage: sqlite.prepare<[string, string], { messages: number; aiRuns: number }>(
      `SELECT own_messages AS messages, own_ai_runs AS aiRuns FROM usage_counters WHERE org_id = ? AND cycle = ?`,
    ),
    /**
     * What the org's OTHER devices on this desktop (other tokens) reported for the cycle and the
     * server acknowledged: already counted there, so not this row's to report again.
     */
    reportedElsewhere: sqlite.prepare<
      { org: string; cycle: string; device: string },
      { messages: number; aiRuns: number }
    >(
      // Per device its highest report, as the server keeps it: one token may have several rows (one
      // per LEDGER_URL spelling), and counting each would under-report this token.
      `SELECT coalesce(sum(messages), 0) AS messages, coalesce(sum(aiRuns), 0) AS aiRuns
         FROM (SELECT max(device_usage_messages) AS messages, max(device_usage_ai_runs) AS aiRuns
                 FROM ledger_sync_state WHERE org_id = @org AND device_usage_cycle = @cycle AND device IS NOT @device
                GROUP BY device)`,
    ),
    /** The server took `deviceUsage` from this row: it keeps the max, and so does this. */
    reported: sqlite.prepare<{ endpoint: string; cycle: string; messages: number; aiRuns: number }>(
      `UPDATE ledger_sync_state SET
         device_usage_messages = CASE WHEN device_usage_cycle = @cycle THEN max(device_usage_messages, @messages) ELSE @messages END,
         device_usage_ai_runs = CASE WHEN device_usage_cycle = @cycle THEN max(device_usage_ai_runs, @aiRuns) ELSE @aiRuns END,
         device_usage_cycle = @cycle
       WHERE endpoint = @endpoint`,
    ),
    attempt: sqlite.prepare<[number, string | null, string]>(
      `UPDATE ledger_sync_state SET last_attempt_at = ?, last_error = ? WHERE endpoint = ?`,
    ),
    pushed: sqlite.prepare<[number, string]>(
      `UPDATE ledger_sync_state SET last_pushed_seq = max(last_pushed_seq, ?) WHERE endpoint = ?`,
    ),
    cursor: sqlite.prepare<[string, string]>(`UPDATE ledger_sync_state SET cursor = ? WHERE endpoint = ?`),
    synced: sqlite.prepare<{ at: number; balance: number; serverTime: number; endpoint: string }>(
      `UPDATE ledger_sync_state SET last_sync_at = @at, last_attempt_at = @at, last_error = NULL,
              balance_micro = @balance, server_time = @serverTime WHERE endpoint = @endpoint`,
    ),
    outboxBatch: sqlite.prepare<[string, number], OutboxRow>(
      `SELECT o.seq, t.id, t.kind, t.amount_micro, t.reference, t.created_at, o.pushed_created_at
         FROM ledger_outbox o JOIN ledger_transfers t ON t.id = o.transfer_id
        WHERE o.org_id = ? ORDER BY o.seq LIMIT ?`,
    ),
    setPushTime: sqlite.prepare<[number | null, string]>(
      `UPDATE ledger_outbox SET pushed_created_at = ? WHERE transfer_id = ?`,
    ),
    settle: sqlite.prepare<[string]>(`DELETE FROM ledger_outbox WHERE transfer_id = ?`),
    /** Usage the server has not acknowledged yet: it is in the local balance but not in the server's. */
    unacknowledged: sqlite.prepare<[string], { n: number; micro: number }>(
      `SELECT count(*) AS n, coalesce(sum(t.amount_micro), 0) AS micro
         FROM ledger_outbox o JOIN ledger_transfers t ON t.id = o.transfer_id WHERE o.org_id = ?`,
    ),
  };
}

export type SyncStatements = ReturnType<typeof prepareSyncStatements>;
