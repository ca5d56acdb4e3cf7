import type { FastifyInstance } from 'fastify';
import type { Engine } from '../engine.ts';
import { AppError } from '../errors.ts';
import { parseWebhook, verifyWebhookAuth } from '../gateways/evolution/index.ts';

/** Evolution's webhook bodies carry media previews: larger than the API's own requests. */
export const WEBHOOK_BODY_LIMIT = 8 * 1024 * 1024;

/**
 * `POST /webhooks/evolution`: Evolution API's events (acks, sends, connection changes), authenticated
 * by the shared secret header or Evolution's HS256 bearer; errors in the API's shared shape.
 */
export function registerWebhooks(app: FastifyInstance, engine: Engine): void {
  const log = engine.log.child({ module: 'webhooks' });
  app.post(
    '/webhooks/evolution',
    { bodyLimit: WEBHOOK_BODY_LIMIT, schema: { hide: true } },
    async (req, reply) => {
      const hook = engine.smartsend?.webhook;
      if (!hook) throw new AppError('UNAVAILABLE', 'WhatsApp is not configured (EVOLUTION_URL is not set)');
      if (!verifyWebhookAuth(req.headers, hook.auth)) {
        throw new AppError('UNAUTHORIZED', 'Missing or bad webhook secret');
      }
      const event = parseWebhook(req.body);
      if (event.kind === 'invalid') {
        log.warn({ event: event.event, issues: event.issues }, 'invalid evolution webhook');
        throw new AppError(
          'VALIDATION_ERROR',
          `Invalid Evolution webhook${event.event ? ` ${event.event}` : ''}`,
          {
            issues: event.issues,
          },
        );
      }
      await hook.handle(event);
      return reply.status(200).send({ ok: true });
    },
  );
}
