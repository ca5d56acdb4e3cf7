import type { Sqlite } from '../db/connection.ts';
import { AppError, errorMessage } from '../errors.ts';
import {
  EvolutionError,
  type EvolutionClient,
  type EvolutionErrorKind,
} from '../gateways/evolution/index.ts';
import type { Logger } from '../logger.ts';
import { RetryLaterError, UnrecoverableError } from '../queue/errors.ts';
import type { ActiveJob, JobHandler } from '../queue/port.ts';
import type { HealthSignal } from './health.ts';
import type { MessageStore } from './messages.ts';
import type { SmartSend } from './planner.ts';

/*
 * The `whatsapp.send` worker: guard -> queue -> SmartSend -> Evolution -> ledger.
 *
 * Each attempt asks SmartSend for the message's slot and, until its "composing" should start, puts
 * the job back without spending an attempt. Then it claims the message (`sending`, naming this job)
 * and asks Evolution to send it with `delay` = the composing time (Evolution shows "composing" that
 * long, then sends). The outcome feeds the instance's health; a send settles the charge (capture;
 * its `message.status` event has the compliance thresholds checked, compliance/watch.ts); a permanent
 * refusal, or the last failed attempt, marks it failed and releases the charge.
 *
 * Exactly once, as far as the engine can know: a settled message is never sent again, and a retry
 * after a crash finds `sending` and sends again only if no SEND_MESSAGE webhook told us Evolution
 * accepted it (see webhook-handler.ts). The one window left: Evolution accepted the message and
 * the engine died (or the call timed out) before either its answer or that webhook arrived; the
 * retry then sends it a second time. Evolution takes no client id to deduplicate on.
 */

export interface SendJob {
  orgId: string;
  messageId: string;
}

export interface SendWorkerDeps {
  sqlite: Sqlite;
  messages: MessageStore;
  smartSend: SmartSend;
  evolution: EvolutionClient;
  log: Logger;
  now?: () => number;
  /** How long a message waits when no instance of its org can send (all banned, or it is pinned to a banned one). */
  noInstanceRetryMs?: number;
}

const DONE = new Set(['sent', 'delivered', 'read']);
/** Failures after which the message may have gone out: keep it `sending` so a late webhook can settle it. */
const AMBIGUOUS = new Set<EvolutionErrorKind>(['timeout', 'network']);
/**
 * How long a message whose last try got no answer waits for WhatsApp's confirmation (the SEND_MESSAGE
 * webhook) before it fails. Failing it at once would lose the charge of a send that went out, and a
 * retry from the dead letters would send it twice.
 */
export const CONFIRM_WINDOW_MS = 10 * 60_000;
/** Why such a message failed, as a dead letter's code (`whatsapp.unconfirmed`). */
const UNCONFIRMED = (reason: string) =>
  new AppError('UNAVAILABLE', reason, { service: 'whatsapp', kind: 'unconfirmed' });

/**
 * What a failed send says about the number's standing with WhatsApp (its health), if anything: a
 * restriction (rate-overlimit, 429) throttles it, a closed WhatsApp connection counts as a failed
 * send. Our own mistakes (a bad request, the API key), the Evolution server's (5xx, no answer, an
 * unreadable one) and a recipient without WhatsApp say nothing about the number: counting them would
 * throttle every number whenever the server is down.
 */
function healthSignal(e: EvolutionError | undefined): HealthSignal | null {
  if (e?.restriction) return { kind: 'rate-limited' };
  return e?.kind === 'connection_closed' ? { kind: 'send-failed' } : null;
}

export function createSendHandler(deps: SendWorkerDeps): JobHandler<SendJob> {
  const { messages, smartSend, evolution, log } = deps;
  const now = deps.now ?? Date.now;
  const evolutionName = deps.sqlite.prepare<[string], { evolution_instance: string }>(
    `SELECT evolution_instance FROM whatsapp_instances WHERE id = ?`,
  );

  /** Marks the message failed (releasing its charge) and dead-letters the job, with why (`cause`). */
  function giveUp(messageId: string, reason: string, cause: unknown): never {
    messages.failed(messageId, reason);
    throw new UnrecoverableError(reason, { cause });
  }

  return async (job: ActiveJob<SendJob>) => {
    const { orgId, messageId } = job.data;
    let m = messages.get(messageId);
    if (!m || m.org_id !== orgId) throw new UnrecoverableError(`No message ${messageId} in org ${orgId}`);
    if (DONE.has(m.status)) return { status: m.status, already: true };
    if (m.status === 'failed') {
      // Only a dead letter sent again (a job the queue made, not one of the message's own: its first,
      // a re-route's) sends a failed message again; one WhatsApp failed after it went out never.
      const ownJob = job.id === messageId || job.id.startsWith(`${messageId}.`);
      if (ownJob || m.evolution_message_id !== null) return { status: m.status, already: true };
      // A dead letter sent again: its first admission was settled (released), so charge it afresh.
      try {
        messages.readmit(m, job.id);
      } catch (err) {
        if (err instanceof AppError && err.status < 500) {
          throw new UnrecoverableError(err.message, { cause: err });
        }
        throw err;
      }
      m = messages.get(messageId)!;
    }
    if (m.status === 'sending' && m.job_id !== job.id) return { status: 'sending', byJob: m.job_id };
    if (m.status === 'sending' && m.confirm_by !== null) {
      // Its last try got no answer, and the webhook has not confirmed it (that would have settled it).
      const left = m.confirm_by - now();
      if (left > 0) throw new RetryLaterError(left, 'waiting for WhatsApp to confirm an unanswered send');
      smartSend.release(messageId);
      const reason = `${m.error ?? 'no answer'}; not confirmed by WhatsApp either`;
      giveUp(messageId, reason, UNCONFIRMED(reason));
    }

    const slot = smartSend.plan({
      messageId,
      orgId,
      instanceId: m.instance_id ?? 'auto',
      recipient: m.to,
      textLength: m.text.length,
      // Not claimed: no attempt went out on the slot it holds (a failed one released it).
      unsent: m.status === 'queued',
    });
    if (!slot) throw new RetryLaterError(deps.noInstanceRetryMs ?? 60_000, 'no instance of the org can send');
    const wait = slot.sendAt - slot.composingMs - now();
    if (wait > 0) throw new RetryLaterError(wait, `waiting for its slot on instance ${slot.instanceId}`);
    let claimed: boolean;
    try {
      claimed = messages.claim(messageId, job.id, slot.instanceId);
    } catch (err) {
      // Its hold expired while it waited and the credit is gone now: not sent, not charged.
      if (!(err instanceof AppError) || err.status >= 500) throw err;
      smartSend.release(messageId, { unsent: true });
      giveUp(messageId, err.message, err);
    }
    if (!claimed) {
      // Another job of this message (it was re-routed) got there first; a slot planned after it
      // settled is not needed.
      const status = messages.get(messageId)?.status;
      if (status !== 'sending') smartSend.release(messageId);
      return { status, byAnotherJob: true };
    }

    const instance = evolutionName.get(slot.instanceId)!.evolution_instance;
    // The attempt abandoned while its request is out (the engine stopping past its grace period, the
    // attempt's timeout): it may still reach WhatsApp, so the job's next run waits for WhatsApp to
    // confirm it, as after a last try without an answer, instead of sending it again.
    const abandoned = () => {
      const reason = `abandoned while being sent (${errorMessage(job.signal.reason)})`;
      try {
        messages.awaitConfirmation(messageId, job.id, now() + CONFIRM_WINDOW_MS, reason);
      } catch (err) {
        log.error(
          { messageId, err: errorMessage(err) },
          'could not mark an abandoned send; it may be sent again',
        );
      }
    };
    job.signal.addEventListener('abort', abandoned, { once: true });
    try {
      const answer = await evolution
        .sendText(instance, {
          number: m.to,
          text: m.text,
          delay: slot.composingMs,
        })
        .finally(() => job.signal.removeEventListener('abort', abandoned));
      const sent = messages.sent(messageId, slot.instanceId, answer.key.id, now());
      smartSend.release(messageId);
      smartSend.report(slot.instanceId, { kind: 'send-ok' });
      // An ERROR ack that came before this answer (messages.ts, early acks) is the same sign as a later one.
      if (sent?.status === 'failed') smartSend.report(slot.instanceId, { kind: 'ack-error' });
      return { status: 'sent', instanceId: slot.instanceId, evolutionMessageId: answer.key.id };
    } catch (err) {
      const e = err instanceof EvolutionError ? err : undefined;
      const signal = healthSignal(e);
      if (signal) smartSend.report(slot.instanceId, signal);
      const reason = errorMessage(err);
      log.warn(
        { messageId, instanceId: slot.instanceId, kind: e?.kind, attempt: job.attempt, err: reason },
        'send failed',
      );
      if (e && AMBIGUOUS.has(e.kind) && job.attempt >= job.attempts) {
        messages.awaitConfirmation(messageId, job.id, now() + CONFIRM_WINDOW_MS, reason);
        throw new RetryLaterError(CONFIRM_WINDOW_MS, `${reason}; waiting for WhatsApp to confirm it`);
      }
      // Refused: certainly not sent, so its slot stops counting in the number's caps. After any other
      // failure (a 5xx, an odd answer, none) it stays counted: a slower pace, never a send left out.
      const unsent = e?.refused === true;
      if (e?.permanent || job.attempt >= job.attempts) {
        smartSend.release(messageId, { unsent });
        giveUp(messageId, reason, err);
      }
      // An answer that never came may still be a send: the message stays `sending` on its reserved
      // slot, where a late SEND_MESSAGE webhook finds it; the retry plans afresh (the slot is stale).
      if (!e || !AMBIGUOUS.has(e.kind)) {
        smartSend.release(messageId, { unsent });
        messages.unclaim(messageId, job.id);
      }
      throw err;
    }
  };
}
