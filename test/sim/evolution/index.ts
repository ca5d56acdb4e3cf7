/**
 * A fake Evolution API v2 for tests: a real HTTP server on 127.0.0.1 that answers as Evolution v2.3
 * (Baileys channel) does, and delivers its webhooks.
 *
 * ```ts
 * import { startEvolutionSim, startWebhookListener } from '../../test/sim/evolution/index.ts';
 * import { createEvolutionClient } from '../../src-engine/gateways/evolution/index.ts';
 *
 * const sim = await startEvolutionSim({
 *   instances: ['sales', { name: 'support', token: 'its-own-key' }],
 *   notOnWhatsApp: ['5511000000000'],
 *   webhook: { url: 'http://127.0.0.1:7420/webhooks/evolution', headers: { jwt_key: 'k' } },
 * });
 * const evolution = createEvolutionClient({ baseUrl: sim.url, apiKey: sim.apiKey });
 * const msg = await evolution.sendText('sales', { number: '5511987654321', text: 'Hola', delay: 1200 });
 * msg.key.id;          // "3EB0…" (22 characters, like Baileys')
 * sim.sends;           // [{ seq, at, instance: 'sales', number, text, delay, id, ack: 'DELIVERY_ACK' }]
 * await sim.close();
 * ```
 *
 * Routes: `POST /message/sendText/{i}`, `POST /chat/sendPresence/{i}`, `POST /chat/whatsappNumbers/{i}`,
 * `GET /instance/connectionState/{i}`, `GET /instance/fetchInstances`; anything else is Express' 404.
 * Checks in Evolution's order: an unknown instance is a 404 before the `apikey` is looked at (401).
 *
 * - A number in `notOnWhatsApp` gets the real 400 `{response: {message: [{jid, exists: false, number}]}}`.
 * - `scriptSends(instance, fault, times)` queues what the next sends meet: `server` (500, or a
 *   proxy's 502/503/504 page), `rate-overlimit` (400 "Error: rate-overlimit"), `too-many-requests`
 *   (a proxy's 429), `error-ack` (accepted, then a MESSAGES_UPDATE with status ERROR only).
 * - `setLatency(ms, instance?)` delays every answer; a send's `delay` holds its answer that long.
 * - `ban(instance, 401 | 403)` closes the session: CONNECTION_UPDATE `{state: 'close', statusReason}`
 *   (after STATUS_INSTANCE and LOGOUT_INSTANCE, if subscribed); then sendText answers 500
 *   "Connection Closed", sendPresence 400 "Error: Connection Closed", whatsappNumbers a 400 Boom body.
 * - `receive()` delivers MESSAGES_UPSERT, `showQrCode()` QRCODE_UPDATED, `setState()` CONNECTION_UPDATE.
 *
 * After each accepted send it delivers SEND_MESSAGE, then MESSAGES_UPDATE SERVER_ACK and
 * DELIVERY_ACK (`messageId` in those is the stored row's id: match on `keyId`). Webhooks go one at a
 * time in order with the config's `headers` (a `jwt_key` entry becomes `Authorization: Bearer <JWT>`);
 * `events` picks which (default the five the engine uses); `webhooksIdle()` waits for them.
 */
export {
  startEvolutionSim,
  type EvolutionSim,
  type EvolutionSimOptions,
  type SendFault,
  type SimDelivery,
  type SimInstanceOptions,
  type SimPresence,
  type SimRequest,
  type SimSend,
  type SimState,
  type SimWebhookConfig,
} from './sim.ts';
export { startWebhookListener, type ReceivedWebhook, type WebhookListener } from './listener.ts';
export { signWebhookJwt } from './jwt.ts';
