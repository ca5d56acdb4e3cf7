import type { Compliance } from '../compliance/alerts.ts';
import { PRIORITY } from '../contracts/queue.ts';
import type { EvolutionWebhookEvent } from '../contracts/evolution.ts';
import type { Reservation } from '../contracts/smartsend.ts';
import type { Priority } from '../contracts/whatsapp.ts';
import type { Sqlite } from '../db/connection.ts';
import type { Logger } from '../logger.ts';
import type { JobQueue } from '../queue/port.ts';
import type { MessageStore } from './messages.ts';
import type { SmartSend } from './planner.ts';

/** A parsed Evolution webhook, already authenticated; `invalid` is the HTTP layer's business. */
export type WebhookEvent = Exclude<EvolutionWebhookEvent, { kind: 'invalid' }>;

export interface WebhookHandlerDeps {
  sqlite: Sqlite;
  messages: MessageStore;
  smartSend: SmartSend;
  compliance: Compliance;
  queue: JobQueue;
  log: Logger;
  now?: () => number;
}

/**
 * What the engine does with Evolution's webhooks: delivery acks move messages forward (an ERROR ack
 * is a sign of restriction for the instance that sent it); SEND_MESSAGE settles a send whose answer
 * we never got; CONNECTION_UPDATE feeds the instance's health, and a ban raises a compliance alert
 * and moves the instance's waiting auto messages, whose jobs are queued again for their new slots.
 * Evolution names an instance by its own name: every row of ours using that name is concerned.
 */
export function createWebhookHandler(deps: WebhookHandlerDeps): (event: WebhookEvent) => Promise<void> {
  const { messages, smartSend, compliance, queue, log } = deps;
  const now = deps.now ?? Date.now;
  const st = {
    byName: deps.sqlite.prepare<[string], { id: string; org_id: string; name: string }>(
      `SELECT id, org_id, name FROM whatsapp_instances WHERE evolution_instance = ? ORDER BY created_at, id`,
    ),
    connection: deps.sqlite.prepare<[string, string]>(
      `UPDATE whatsapp_instances SET connection_state = ? WHERE id = ?`,
    ),
  };

  /** A moved message's job waits for its old slot: a second job (its claim keeps it once) takes the new one. */
  async function requeue(moved: Reservation[]) {
    for (const r of moved) {
      const m = messages.get(r.messageId);
      if (!m) continue;
      await queue.add(
        'whatsapp.send',
        { orgId: r.orgId, messageId: r.messageId },
        {
          jobId: `${r.messageId}.moved-${r.sendAt}`,
          delay: Math.max(0, r.sendAt - r.composingMs - now()),
          priority: PRIORITY[m.priority as Priority] ?? PRIORITY.normal,
        },
      );
    }
  }

  /** An ERROR ack is a sign of restriction: a throttle it brings plans the number's waiting messages again. */
  const ackError = (instanceId: string) =>
    requeue(smartSend.report(instanceId, { kind: 'ack-error' }).rerouted);

  return async (event) => {
    switch (event.kind) {
      case 'message.status': {
        const status =
          event.status === 'error'
            ? 'failed'
            : event.status === 'delivered'
              ? 'delivered'
              : event.status === 'read' || event.status === 'played'
                ? 'read'
                : undefined;
        if (!status) return;
        const m = messages.acked(event.messageId, status);
        if (status === 'failed' && m?.instance_id) await ackError(m.instance_id);
        return;
      }
      case 'message.sent': {
        if (event.text === null) return;
        for (const inst of st.byName.all(event.instance)) {
          const m = messages.sendingMatch(inst.id, event.remoteJid, event.text);
          const sent = m && messages.sent(m.id, inst.id, event.messageId, now());
          if (sent) {
            smartSend.release(sent.id);
            // An ERROR ack that came before this webhook (messages.ts, early acks).
            if (sent.status === 'failed') await ackError(inst.id);
            log.info({ messageId: sent.id, instanceId: inst.id }, 'send confirmed by webhook');
          }
        }
        return;
      }
      case 'connection': {
        for (const inst of st.byName.all(event.instance)) {
          st.connection.run(event.state, inst.id);
          const report = smartSend.report(inst.id, {
            kind: 'connection',
            state: event.state,
            statusReason: event.statusReason,
          });
          if (report.event?.to !== 'BANNED') continue;
          // A number paired again can be banned again: each ban is an alert of its own.
          compliance.raise(
            inst.org_id,
            'instance_banned',
            inst.id,
            `WhatsApp number "${inst.name}" was banned: ${report.event.reason}`,
            { again: true },
          );
          log.warn({ instanceId: inst.id, moved: report.rerouted.length }, 'instance banned');
          await requeue(report.rerouted);
        }
        return;
      }
      case 'ignored':
        log.info({ event: event.event, instance: event.instance }, 'evolution webhook event ignored');
        return;
      case 'message.upsert':
      case 'qrcode':
        // Incoming messages and pairing are other areas' (replies, instance setup).
        log.debug({ kind: event.kind, instance: event.instance }, 'evolution webhook not acted on');
        return;
    }
  };
}
