import type { EngineEvent } from '../contracts/events.ts';
import type { MessageStatus } from '../contracts/whatsapp.ts';
import type { Sqlite } from '../db/connection.ts';
import type { CommitEmitter } from '../events.ts';
import type { MessageRow } from '../guard/rows.ts';
import { AppError } from '../errors.ts';
import { whatsappNumberKey } from '../gateways/evolution/index.ts';
import type { Admission, Charges } from '../ledger/charges.ts';
import { MESSAGE_HOLD_TTL_MS } from '../guard/commands/send-message.ts';

/*
 * The life of a `sent_messages` row once the guard queued it:
 *
 *   queued -> sending -> sent -> delivered -> read      (failed from queued/sending; sent -> failed on an error ack)
 *
 * `sending` is written before Evolution is called and names the job that calls it (`job_id`), so two
 * jobs carrying one message (a re-routed message gets a second one) never both send it. The status
 * is also the once-guard of the charge: the change to `sent` or `failed` and the settlement of the
 * admission commit in one transaction, and only the change that found the row unsettled settles.
 */

export type StoredMessage = MessageRow & {
  cycle: string | null;
  idempotency_key: string | null;
  /** Set while a send Evolution never answered waits for WhatsApp's confirmation (see `awaitConfirmation`). */
  confirm_by: number | null;
};

export interface MessageStore {
  get(id: string): StoredMessage | undefined;
  /**
   * Takes the message for `jobId` to send it now from `instanceId`: true when it was queued (or this job already had
   * it: a retry after a crash); false when another job holds it or it is settled. A paid message whose
   * hold expired while it waited holds its price again first (`Charges.renew`), or is not taken:
   * 402 INSUFFICIENT_CREDITS.
   */
  claim(id: string, jobId: string, instanceId: string): boolean;
  /** Back to queued after an attempt that certainly did not send it. */
  unclaim(id: string, jobId: string): void;
  /**
   * The last try got no answer (it may have gone out): the message stays `sending`, charge held, for the
   * SEND_MESSAGE webhook to settle it until `until`; `error` says why meanwhile.
   */
  awaitConfirmation(id: string, jobId: string, until: number, error: string): void;
  /** A failed message sent again from the dead letters: admitted (charged) afresh, queued for `jobId`. */
  readmit(message: StoredMessage, jobId: string): void;
  /**
   * Sent: records it, captures its charge, then applies the acks that came for its WhatsApp id before
   * (`acked`). Returns the message as it ends, or undefined when it was already settled.
   */
  sent(id: string, instanceId: string, evolutionMessageId: string, at: number): StoredMessage | undefined;
  /** Failed for good: records why, releases its charge; false when it was already settled. */
  failed(id: string, error: string): boolean;
  /**
   * A delivery ack for WhatsApp's message id; only moves forward. Returns the message changed, if any.
   * An ack for an id no message has yet, while some message is out at Evolution, is kept for an hour:
   * it may be that message's, its id not known yet (see `sent`).
   */
  acked(evolutionMessageId: string, status: 'delivered' | 'read' | 'failed'): StoredMessage | undefined;
  /**
   * The message being sent from an instance to a recipient (a number or WhatsApp JID, in whatever form
   * Evolution wrote it) with this text: how a SEND_MESSAGE webhook finds a send whose answer never
   * reached us (a crash, a timeout).
   */
  sendingMatch(instanceId: string, recipient: string, text: string): StoredMessage | undefined;
}

/** Statuses an ack may move a message from (never backwards, never out of failed). */
const ACK_FROM: Record<'delivered' | 'read' | 'failed', MessageStatus[]> = {
  delivered: ['sending', 'sent'],
  read: ['sending', 'sent', 'delivered'],
  failed: ['sending', 'sent'],
};

/** How long an ack for an unknown WhatsApp id waits for its message (a lost answer's webhook comes sooner). */
export const EARLY_ACK_TTL_MS = 3_600_000;

/** A send (typing delay, Evolution's answer, retries of the call) ends well within this. */
const SEND_HOLD_MARGIN_MS = 3_600_000;

export function admissionOf(m: StoredMessage): Admission {
  if (m.cycle === null) throw new AppError('INTERNAL_ERROR', `Message ${m.id} has no billing cycle`);
  return {
    orgId: m.org_id,
    unit: 'message',
    cycle: m.cycle,
    free: m.free === 1,
    reservationId: m.reservation_id,
  };
}

export function createMessageStore(deps: {
  sqlite: Sqlite;
  charges: Charges;
  /** Ledger events raised inside these transactions are held until they commit (see events.ts). */
  events: CommitEmitter<EngineEvent>;
  now?: () => number;
}): MessageStore {
  const { sqlite, charges, events } = deps;
  const now = deps.now ?? Date.now;
  const st = {
    get: sqlite.prepare<[string], StoredMessage>(`SELECT * FROM sent_messages WHERE id = ?`),
    claim: sqlite.prepare<{ id: string; job: string; instance: string }>(
      `UPDATE sent_messages SET status = 'sending', job_id = @job, sending_on = @instance, confirm_by = NULL
       WHERE id = @id AND (status = 'queued' OR (status = 'sending' AND job_id = @job))`,
    ),
    setReservation: sqlite.prepare<[string | null, string]>(
      `UPDATE sent_messages SET reservation_id = ? WHERE id = ?`,
    ),
    unclaim: sqlite.prepare<[string, string]>(
      `UPDATE sent_messages SET status = 'queued', confirm_by = NULL
       WHERE id = ? AND status = 'sending' AND job_id = ?`,
    ),
    awaitConfirmation: sqlite.prepare<[number, string, string, string]>(
      `UPDATE sent_messages SET confirm_by = ?, error = ? WHERE id = ? AND status = 'sending' AND job_id = ?`,
    ),
    readmit: sqlite.prepare(
      `UPDATE sent_messages SET status = 'queued', job_id = @job, reservation_id = @reservationId,
         free = @free, cycle = @cycle, error = NULL, confirm_by = NULL
       WHERE id = @id AND status = 'failed'`,
    ),
    sent: sqlite.prepare<{ id: string; instance: string; evo: string; at: number }, StoredMessage>(
      // A WhatsApp id already settled another message (a redelivered SEND_MESSAGE of the same text to the
      // same number) settles nothing more.
      `UPDATE sent_messages SET status = 'sent', instance_id = @instance, evolution_message_id = @evo,
         sent_at = @at, error = NULL, confirm_by = NULL
       WHERE id = @id AND status IN ('queued', 'sending')
         AND NOT EXISTS (SELECT 1 FROM sent_messages WHERE evolution_message_id = @evo)
       RETURNING *`,
    ),
    failed: sqlite.prepare<[string, string], StoredMessage>(
      `UPDATE sent_messages SET status = 'failed', error = ?
       WHERE id = ? AND status IN ('queued', 'sending') RETURNING *`,
    ),
    // The number a message is being sent from (`sending_on`, set at the claim; for a row claimed before
    // it was kept: its reserved slot's or the one it is pinned to). The recipient is compared in JS
    // (whatsappNumberKey): Evolution may have rewritten its digits.
    sendingOn: sqlite.prepare<[string, string], StoredMessage>(
      `SELECT m.* FROM sent_messages m LEFT JOIN smartsend_reservations r ON r.message_id = m.id
       WHERE m.status = 'sending' AND coalesce(m.sending_on, r.instance_id, m.instance_id) = ? AND m.text = ?
       ORDER BY m.created_at, m.id`,
    ),
    known: sqlite.prepare<[string], { one: number }>(
      `SELECT 1 AS one FROM sent_messages WHERE evolution_message_id = ? LIMIT 1`,
    ),
    anySending: sqlite.prepare<[], { one: number }>(
      `SELECT 1 AS one FROM sent_messages WHERE status = 'sending' LIMIT 1`,
    ),
    pruneEarly: sqlite.prepare<[number]>(`DELETE FROM early_acks WHERE received_at < ?`),
    keepEarly: sqlite.prepare<[string, string, number]>(
      `INSERT INTO early_acks (evolution_message_id, status, received_at) VALUES (?, ?, ?)
       ON CONFLICT DO NOTHING`,
    ),
    takeEarly: sqlite.prepare<[string], { status: keyof typeof ACK_FROM; n: number }>(
      `DELETE FROM early_acks WHERE evolution_message_id = ? RETURNING status, rowid AS n`,
    ),
  };
  const ack = (status: keyof typeof ACK_FROM) =>
    sqlite.prepare<[string], StoredMessage>(
      `UPDATE sent_messages SET status = '${status}'
       WHERE evolution_message_id = ? AND status IN (${ACK_FROM[status].map((s) => `'${s}'`).join(', ')})
       RETURNING *`,
    );
  const acks = { delivered: ack('delivered'), read: ack('read'), failed: ack('failed') };

  const statusEvent = (m: StoredMessage) =>
    events.emit({
      type: 'message.status',
      orgId: m.org_id,
      messageId: m.id,
      status: m.status as MessageStatus,
      ts: now(),
    });

  /** Runs `fn` in one transaction; its events go out once it committed. */
  function atomically<T>(fn: () => T): T {
    let result: T;
    try {
      result = sqlite.transaction(fn).immediate();
    } catch (err) {
      events.discard();
      throw err;
    }
    events.flush();
    return result;
  }

  const settle = (row: StoredMessage | undefined, outcome: 'success' | 'failure') => {
    if (!row) return false;
    charges.settle(admissionOf(row), outcome);
    statusEvent(row);
    return true;
  };

  return {
    get: (id) => st.get.get(id),
    claim: (id, jobId, instanceId) =>
      atomically(() => {
        if (st.claim.run({ id, job: jobId, instance: instanceId }).changes !== 1) return false;
        const before = admissionOf(st.get.get(id)!);
        const after = charges.renew(before, {
          ttlMs: MESSAGE_HOLD_TTL_MS,
          minRemainingMs: SEND_HOLD_MARGIN_MS,
          jobId,
        });
        if (after.reservationId !== before.reservationId) st.setReservation.run(after.reservationId, id);
        return true;
      }),
    unclaim: (id, jobId) => void st.unclaim.run(id, jobId),
    awaitConfirmation: (id, jobId, until, error) => void st.awaitConfirmation.run(until, error, id, jobId),
    readmit: (m, jobId) =>
      atomically(() => {
        const a = charges.admit(m.org_id, 'message', {
          reference: `message:${m.id}`,
          jobId,
          ttlMs: MESSAGE_HOLD_TTL_MS,
        });
        st.readmit.run({
          id: m.id,
          job: jobId,
          reservationId: a.reservationId,
          free: a.free ? 1 : 0,
          cycle: a.cycle,
        });
      }),
    sent: (id, instance, evo, at) =>
      atomically(() => {
        let row = st.sent.get({ id, instance, evo, at });
        if (!settle(row, 'success')) return undefined;
        // In the order they came (RETURNING gives no order); each only moves it forward, as it would have.
        for (const { status } of st.takeEarly.all(evo).sort((a, b) => a.n - b.n)) {
          const acked = acks[status].get(evo);
          if (acked) statusEvent((row = acked));
        }
        return row;
      }),
    failed: (id, error) => atomically(() => settle(st.failed.get(error, id), 'failure')),
    acked: (evolutionMessageId, status) =>
      atomically(() => {
        const row = acks[status].get(evolutionMessageId);
        if (row) statusEvent(row);
        else if (!st.known.get(evolutionMessageId) && st.anySending.get()) {
          const at = now();
          st.pruneEarly.run(at - EARLY_ACK_TTL_MS);
          st.keepEarly.run(evolutionMessageId, status, at);
        }
        return row;
      }),
    sendingMatch: (instanceId, recipient, text) => {
      const key = whatsappNumberKey(recipient);
      return st.sendingOn.all(instanceId, text).find((m) => whatsappNumberKey(m.to) === key);
    },
  };
}
