import type { z } from 'zod';
import {
  BANNED_CLOSE_CODES,
  ConnectionUpdateDataSchema,
  EVOLUTION_ACKS,
  EvolutionMessageSchema,
  MessagesUpdateDataSchema,
  QrcodeUpdatedDataSchema,
  TextContentSchema,
  WebhookEnvelopeSchema,
  type EvolutionMessage,
  type EvolutionMessageStatus,
  type EvolutionWebhookEvent,
  type MessageStatus,
} from '../../contracts/evolution.ts';

const STATUS: Record<EvolutionMessageStatus, MessageStatus> = {
  ERROR: 'error',
  PENDING: 'pending',
  SERVER_ACK: 'sent',
  DELIVERY_ACK: 'delivered',
  READ: 'read',
  PLAYED: 'played',
  DELETED: 'deleted',
};

/**
 * `messages.upsert` (the wire) and `MESSAGES_UPSERT` (the config) name the same event; this is the
 * transformation Evolution itself applies before matching an event against a webhook's list.
 */
export const webhookEventName = (event: string) => event.replace(/[.-]/g, '_').toUpperCase();

/** Normalises an Evolution webhook body; never throws: bad input gives `{kind: 'invalid'}`. */
export function parseWebhook(body: unknown): EvolutionWebhookEvent {
  const envelope = WebhookEnvelopeSchema.safeParse(body);
  if (!envelope.success) return invalid(null, envelope.error);
  const { event, instance, data } = envelope.data;

  switch (webhookEventName(event)) {
    case 'MESSAGES_UPDATE': {
      const parsed = MessagesUpdateDataSchema.safeParse(data);
      if (!parsed.success) return invalid(event, parsed.error);
      const d = parsed.data;
      const messageId = d.keyId ?? d.key?.id;
      const status = normaliseStatus(d.status ?? d.update?.status);
      if (messageId === undefined || status === undefined) {
        return { kind: 'invalid', event, issues: ['a message id and a known status are required'] };
      }
      return {
        kind: 'message.status',
        instance,
        messageId,
        remoteJid: d.remoteJid ?? d.key?.remoteJid ?? null,
        fromMe: d.fromMe ?? d.key?.fromMe ?? null,
        status,
      };
    }
    case 'MESSAGES_UPSERT': {
      const parsed = EvolutionMessageSchema.safeParse(data);
      if (!parsed.success) return invalid(event, parsed.error);
      const m = parsed.data;
      const ts = Number(m.messageTimestamp);
      return {
        kind: 'message.upsert',
        instance,
        messageId: m.key.id,
        remoteJid: m.key.remoteJid,
        fromMe: m.key.fromMe,
        pushName: m.pushName ?? null,
        messageType: m.messageType ?? null,
        text: textOf(m),
        timestamp: m.messageTimestamp != null && Number.isFinite(ts) ? ts : null,
      };
    }
    case 'SEND_MESSAGE': {
      const parsed = EvolutionMessageSchema.safeParse(data);
      if (!parsed.success) return invalid(event, parsed.error);
      const m = parsed.data;
      return {
        kind: 'message.sent',
        instance,
        messageId: m.key.id,
        remoteJid: m.key.remoteJid,
        text: textOf(m),
      };
    }
    case 'CONNECTION_UPDATE': {
      const parsed = ConnectionUpdateDataSchema.safeParse(data);
      if (!parsed.success) return invalid(event, parsed.error);
      const { state, statusReason } = parsed.data;
      return {
        kind: 'connection',
        instance,
        state,
        statusReason: statusReason ?? null,
        banned: state === 'close' && statusReason != null && BANNED_CLOSE_CODES.has(statusReason),
      };
    }
    case 'QRCODE_UPDATED': {
      const parsed = QrcodeUpdatedDataSchema.safeParse(data);
      if (!parsed.success) return invalid(event, parsed.error);
      const qr = parsed.data.qrcode;
      return {
        kind: 'qrcode',
        instance,
        code: qr?.code ?? null,
        base64: qr?.base64 ?? null,
        pairingCode: qr?.pairingCode ?? null,
        limitReached: qr === undefined,
      };
    }
    default:
      return { kind: 'ignored', instance, event };
  }
}

function normaliseStatus(status: EvolutionMessageStatus | number | undefined): MessageStatus | undefined {
  if (typeof status === 'number') {
    const name = EVOLUTION_ACKS[status];
    return name === undefined ? undefined : STATUS[name];
  }
  return status === undefined ? undefined : STATUS[status];
}

function textOf(m: EvolutionMessage): string | null {
  const parsed = TextContentSchema.safeParse(m.message ?? {});
  if (!parsed.success) return null;
  return parsed.data.conversation ?? parsed.data.extendedTextMessage?.text ?? null;
}

function invalid(event: string | null, error: z.ZodError): EvolutionWebhookEvent {
  return {
    kind: 'invalid',
    event,
    issues: error.issues.map((i) =>
      i.path.length ? `${i.path.map(String).join('.')}: ${i.message}` : i.message,
    ),
  };
}
