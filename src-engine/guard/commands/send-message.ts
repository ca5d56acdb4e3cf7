import { PRIORITY } from '../../contracts/queue.ts';
import { SendMessageSchema, type SendAccepted } from '../../contracts/whatsapp.ts';
import type { Sqlite } from '../../db/connection.ts';
import { AppError } from '../../errors.ts';
import type { Charges } from '../../ledger/charges.ts';
import type { Command } from '../pipeline.ts';
import { uuidv7 } from '../../ids.ts';

/** A queued message may wait days for its instance's pace (caps, quiet hours): its hold lives a week. */
export const MESSAGE_HOLD_TTL_MS = 7 * 86_400_000;

export function sendMessageCommand(deps: {
  sqlite: Sqlite;
  charges: Charges;
  now?: () => number;
  newId?: () => string;
}): Command<typeof SendMessageSchema, SendAccepted> {
  const now = deps.now ?? Date.now;
  const newId = deps.newId ?? uuidv7;
  const st = {
    instance: deps.sqlite.prepare<[string, string], { id: string }>(
      `SELECT id FROM whatsapp_instances WHERE id = ? AND org_id = ?`,
    ),
    anyInstance: deps.sqlite.prepare<[string], { id: string }>(
      `SELECT id FROM whatsapp_instances WHERE org_id = ? LIMIT 1`,
    ),
    insert: deps.sqlite.prepare(
      `INSERT INTO sent_messages (id, org_id, instance_id, idempotency_key, "to", text, status, job_id,
                                  reservation_id, priority, free, cycle, created_at)
       VALUES (@id, @orgId, @instanceId, @key, @to, @text, 'queued', @id, @reservationId, @priority, @free,
               @cycle, @at)`,
    ),
  };
  return {
    name: 'whatsapp:send',
    schema: SendMessageSchema,
    check({ orgId }, input) {
      if (input.instanceId === 'auto') {
        if (!st.anyInstance.get(orgId)) {
          throw new AppError('NOT_FOUND', 'The organization has no WhatsApp instance yet: add one first');
        }
      } else if (!st.instance.get(input.instanceId, orgId)) {
        throw new AppError('NOT_FOUND', `No WhatsApp instance ${JSON.stringify(input.instanceId)}`, {
          instanceId: input.instanceId,
        });
      }
    },
    execute({ orgId }, input) {
      const id = newId();
      const admission = deps.charges.admit(orgId, 'message', {
        reference: `message:${id}`,
        jobId: id,
        ttlMs: MESSAGE_HOLD_TTL_MS,
      });
      st.insert.run({
        id,
        orgId,
        instanceId: input.instanceId,
        key: input.idempotencyKey ?? null,
        to: input.to,
        text: input.text,
        reservationId: admission.reservationId,
        priority: input.priority,
        free: admission.free ? 1 : 0,
        cycle: admission.cycle,
        at: now(),
      });
      return {
        output: { jobId: id, messageId: id, status: 'queued' },
        job: {
          queue: 'whatsapp.send',
          jobId: id,
          data: { orgId, messageId: id },
          opts: { priority: PRIORITY[input.priority] },
        },
      };
    },
  };
}
