import { z } from 'zod';

/*
 * Evolution API v2 on the wire, as its source (v2.3) defines it: routes in src/api/routes, request
 * schemas in src/validate, answers from the controllers and whatsapp.baileys.service.ts, errors from
 * src/exceptions and the error handler in src/main.ts, webhooks from
 * src/api/integrations/event/webhook/webhook.controller.ts.
 */

// ---------------------------------------------------------------------------------------------
// Requests (all bodies are flat; the instance name is the last path segment)

/** `POST /message/sendText/{instance}`; `delay` (ms) makes Evolution show "composing" first. */
export const SendTextBodySchema = z.object({
  number: z.string().min(1),
  text: z.string().min(1),
  delay: z.number().int().min(0).optional(),
  linkPreview: z.boolean().optional(),
});
export type SendTextBody = z.infer<typeof SendTextBodySchema>;

/** Baileys' WAPresence, the enum of Evolution's presenceSchema. */
export const PresenceSchema = z.enum(['unavailable', 'available', 'composing', 'recording', 'paused']);
export type Presence = z.infer<typeof PresenceSchema>;

/** `POST /chat/sendPresence/{instance}`: shows `presence` for `delay` ms, then "paused". */
export const SendPresenceBodySchema = z.object({
  number: z.string().min(1),
  presence: PresenceSchema,
  delay: z.number().int().min(0),
});
export type SendPresenceBody = z.infer<typeof SendPresenceBodySchema>;

/** `POST /chat/whatsappNumbers/{instance}`. */
export const WhatsappNumbersBodySchema = z.object({ numbers: z.array(z.string().min(1)).min(1) });
export type WhatsappNumbersBody = z.infer<typeof WhatsappNumbersBodySchema>;

// ---------------------------------------------------------------------------------------------
// Answers

/** Message status names (src/utils/renderStatus.ts), indexed by Baileys' numeric ack; DELETED is extra. */
export const EVOLUTION_ACKS = ['ERROR', 'PENDING', 'SERVER_ACK', 'DELIVERY_ACK', 'READ', 'PLAYED'] as const;
export const EvolutionMessageStatusSchema = z.enum([...EVOLUTION_ACKS, 'DELETED']);
export type EvolutionMessageStatus = z.infer<typeof EvolutionMessageStatusSchema>;

export const MessageKeySchema = z.looseObject({
  id: z.string().min(1),
  remoteJid: z.string(),
  fromMe: z.boolean(),
  participant: z.string().nullish(),
});
export type MessageKey = z.infer<typeof MessageKeySchema>;

/**
 * A message as Evolution's prepareMessage() builds it: the 201 answer of sendText and the `data` of
 * SEND_MESSAGE and MESSAGES_UPSERT. A text arrives as `message.conversation`.
 */
export const EvolutionMessageSchema = z.looseObject({
  key: MessageKeySchema,
  pushName: z.string().nullish(),
  status: z.string().nullish(),
  message: z.record(z.string(), z.unknown()).nullish(),
  messageType: z.string().nullish(),
  // A number since v2 (Long -> number); older answers and the docs show a string.
  messageTimestamp: z.union([z.number(), z.string()]).nullish(),
  instanceId: z.string().nullish(),
  source: z.string().nullish(),
});
export type EvolutionMessage = z.infer<typeof EvolutionMessageSchema>;

/** The text of a message's content, where Evolution puts it (extendedTextMessage in older versions). */
export const TextContentSchema = z.object({
  conversation: z.string().optional(),
  extendedTextMessage: z.object({ text: z.string() }).optional(),
});

/** The answer of sendPresence (201). */
export const SendPresenceAnswerSchema = z.object({ presence: z.string() });
export type SendPresenceAnswer = z.infer<typeof SendPresenceAnswerSchema>;

/** Baileys' WAConnectionState plus Evolution's 'refused' (QR code limit reached). */
export const ConnectionStateSchema = z.enum(['open', 'connecting', 'close', 'refused']);
export type ConnectionState = z.infer<typeof ConnectionStateSchema>;

/** `GET /instance/connectionState/{instance}`; `state` is missing for an instance not loaded yet. */
export const ConnectionStateAnswerSchema = z.object({
  instance: z.object({ instanceName: z.string(), state: ConnectionStateSchema.optional() }),
});
export type ConnectionStateAnswer = z.infer<typeof ConnectionStateAnswerSchema>;

/**
 * One row of `GET /instance/fetchInstances` (the Prisma Instance model). Only the fields we use are
 * kept: the row also carries the instance's own API key (`token`), which we never want to hold.
 */
export const EvolutionInstanceSchema = z.object({
  id: z.string(),
  name: z.string(),
  connectionStatus: z.enum(['open', 'close', 'connecting']),
  ownerJid: z.string().nullish(),
  profileName: z.string().nullish(),
  integration: z.string().nullish(),
  number: z.string().nullish(),
  disconnectionReasonCode: z.number().int().nullish(),
  disconnectionAt: z.string().nullish(),
  createdAt: z.string().nullish(),
});
export type EvolutionInstance = z.infer<typeof EvolutionInstanceSchema>;
export const FetchInstancesAnswerSchema = z.array(EvolutionInstanceSchema);

/** OnWhatsAppDto: the answer items of whatsappNumbers, and the `message` of the "not on WhatsApp" 400. */
export const OnWhatsAppSchema = z.object({
  exists: z.boolean(),
  jid: z.string(),
  number: z.string(),
  name: z.string().nullish(),
  lid: z.string().nullish(),
});
export type OnWhatsApp = z.infer<typeof OnWhatsAppSchema>;
export const WhatsappNumbersAnswerSchema = z.array(OnWhatsAppSchema);

/**
 * Evolution's error answer `{status, error, response: {message}}`; `message` is a string or an array
 * (of strings, or of OnWhatsApp objects for a number not on WhatsApp). whatsappNumbers answers its
 * caught error unwrapped (`{status, error, message}`), and a Baileys Boom error as it is (`output`).
 */
export const EvolutionErrorBodySchema = z.object({
  status: z.number().int().optional(),
  error: z.string().optional(),
  response: z.object({ message: z.unknown() }).optional(),
  message: z.unknown().optional(),
  output: z
    .object({ payload: z.object({ message: z.unknown() }).partial() })
    .partial()
    .optional(),
});
export type EvolutionErrorBody = z.infer<typeof EvolutionErrorBodySchema>;

// ---------------------------------------------------------------------------------------------
// Webhooks

/** The events we act on, by their config names; on the wire `event` is e.g. `messages.upsert`. */
export const WEBHOOK_EVENTS = [
  'MESSAGES_UPSERT',
  'MESSAGES_UPDATE',
  'SEND_MESSAGE',
  'CONNECTION_UPDATE',
  'QRCODE_UPDATED',
] as const;
export type WebhookEventName = (typeof WEBHOOK_EVENTS)[number];

/** The body Evolution POSTs to a webhook; `apikey` is the instance's key (or null): never log it. */
export const WebhookEnvelopeSchema = z.object({
  event: z.string().min(1),
  instance: z.string().min(1),
  data: z.unknown(),
  destination: z.string().nullish(),
  date_time: z.string().nullish(),
  sender: z.string().nullish(),
  server_url: z.string().nullish(),
  apikey: z.string().nullish(),
});
export type WebhookEnvelope = z.infer<typeof WebhookEnvelopeSchema>;

/**
 * MESSAGES_UPDATE data: `{keyId, remoteJid, fromMe, participant, status, instanceId}` in v2; Baileys'
 * raw `{key, update: {status}}` and numeric acks are accepted too.
 */
export const MessagesUpdateDataSchema = z.looseObject({
  keyId: z.string().min(1).optional(),
  key: z
    .looseObject({ id: z.string().min(1), remoteJid: z.string().nullish(), fromMe: z.boolean().nullish() })
    .optional(),
  remoteJid: z.string().nullish(),
  fromMe: z.boolean().nullish(),
  status: z.union([EvolutionMessageStatusSchema, z.number().int()]).optional(),
  update: z.looseObject({ status: z.union([EvolutionMessageStatusSchema, z.number().int()]) }).optional(),
});

/** CONNECTION_UPDATE data; `statusReason` is Baileys' DisconnectReason (401 logged out, 403 forbidden). */
export const ConnectionUpdateDataSchema = z.looseObject({
  instance: z.string().nullish(),
  state: ConnectionStateSchema,
  statusReason: z.number().int().nullish(),
  wuid: z.string().nullish(),
});

/** QRCODE_UPDATED data: a new code, or `{message, statusCode}` when the QR limit is reached. */
export const QrcodeUpdatedDataSchema = z
  .looseObject({
    qrcode: z
      .looseObject({
        instance: z.string().nullish(),
        pairingCode: z.string().nullish(),
        code: z.string().nullish(),
        base64: z.string().nullish(),
      })
      .optional(),
    message: z.string().optional(),
    statusCode: z.number().int().nullish(),
  })
  .refine(
    (d) => d.qrcode !== undefined || d.message !== undefined,
    'either `qrcode` or `message` is required',
  );

/** The claims of the HS256 bearer Evolution sends when the webhook's headers hold `jwt_key`. */
export const WebhookJwtHeaderSchema = z.object({ alg: z.literal('HS256') });
export const WebhookJwtClaimsSchema = z.object({
  exp: z.number(),
  nbf: z.number().optional(),
  iat: z.number().optional(),
});

// ---------------------------------------------------------------------------------------------
// Our normalised view of webhooks

/** Delivery status in our words: SERVER_ACK = sent, DELIVERY_ACK = delivered, ERROR = error (e.g. 463). */
export const MessageStatusSchema = z.enum([
  'error',
  'pending',
  'sent',
  'delivered',
  'read',
  'played',
  'deleted',
]);
export type MessageStatus = z.infer<typeof MessageStatusSchema>;

const instance = z.string();
const nullableString = z.string().nullable();

/** What parseWebhook() makes of a webhook body; `ignored` and `invalid` are for the caller to log. */
export const EvolutionWebhookEventSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('message.status'),
    instance,
    messageId: z.string(),
    remoteJid: nullableString,
    fromMe: z.boolean().nullable(),
    status: MessageStatusSchema,
  }),
  z.object({
    kind: z.literal('message.upsert'),
    instance,
    messageId: z.string(),
    remoteJid: z.string(),
    fromMe: z.boolean(),
    pushName: nullableString,
    messageType: nullableString,
    text: nullableString,
    /** Unix seconds, as WhatsApp stamps it. */
    timestamp: z.number().nullable(),
  }),
  z.object({
    kind: z.literal('message.sent'),
    instance,
    messageId: z.string(),
    remoteJid: z.string(),
    text: nullableString,
  }),
  z.object({
    kind: z.literal('connection'),
    instance,
    state: ConnectionStateSchema,
    statusReason: z.number().int().nullable(),
    /** Closed for good by WhatsApp: logged out (401) or forbidden (403). */
    banned: z.boolean(),
  }),
  z.object({
    kind: z.literal('qrcode'),
    instance,
    code: nullableString,
    base64: nullableString,
    pairingCode: nullableString,
    limitReached: z.boolean(),
  }),
  z.object({ kind: z.literal('ignored'), instance, event: z.string() }),
  z.object({ kind: z.literal('invalid'), event: nullableString, issues: z.array(z.string()) }),
]);
export type EvolutionWebhookEvent = z.infer<typeof EvolutionWebhookEventSchema>;

/**
 * The close codes (`statusReason` of connection.update) Evolution does not reconnect from, its
 * codesToNotReconnect: logged out (401), temporarily banned (402), forbidden (403) and WhatsApp
 * Web's BANNED/unknown logout (406). The number must be paired again.
 */
export const BANNED_CLOSE_CODES: ReadonlySet<number> = new Set([401, 402, 403, 406]);
