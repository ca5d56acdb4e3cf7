export { createEvolutionClient, type EvolutionClient, type EvolutionClientOptions } from './client.ts';
export { EVOLUTION_ERROR_KINDS, EvolutionError, type EvolutionErrorKind } from './errors.ts';
export { whatsappNumberKey } from './jid.ts';
export { parseWebhook, webhookEventName } from './webhook.ts';
export {
  verifyWebhookAuth,
  WEBHOOK_SECRET_HEADER,
  type HeaderBag,
  type WebhookAuthOptions,
} from './webhook-auth.ts';
