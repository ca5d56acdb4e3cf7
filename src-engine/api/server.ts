import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { ErrorBody } from '../contracts/errors.ts';
import type { Engine } from '../engine.ts';
import { AppError } from '../errors.ts';

export const BODY_LIMIT = 64 * 1024;

/** Maps anything thrown in a route to the shared error shape; never leaks a stack trace. */
function toErrorReply(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof AppError) return { status: err.status, body: err.toBody() };
  const fe = err as Partial<FastifyError>;
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return {
      status: 413,
      body: { error: 'PAYLOAD_TOO_LARGE', message: `Body larger than ${BODY_LIMIT} bytes` },
    };
  }
  if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return { status: 415, body: { error: 'UNSUPPORTED_MEDIA_TYPE', message: 'Send application/json' } };
  }
  if (fe.statusCode === 400) {
    return { status: 400, body: { error: 'VALIDATION_ERROR', message: fe.message ?? 'Bad request' } };
  }
  return { status: 500, body: { error: 'INTERNAL_ERROR', message: 'Internal error' } };
}

/** The engine's local HTTP API (versioned under /api/v1). */
export function createApiServer(engine: Engine): FastifyInstance {
  const log = engine.log.child({ module: 'api' });
  const app = Fastify({ logger: false, bodyLimit: BODY_LIMIT });

  app.setErrorHandler((err, req, reply) => {
    const { status, body } = toErrorReply(err);
    if (status >= 500) log.error({ err, url: req.url, method: req.method }, 'request failed');
    void reply.status(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply
      .status(404)
      .send({ error: 'NOT_FOUND', message: `No route ${req.method} ${req.url.split('?')[0]}` });
  });

  app.get('/api/v1/health', async (_req, reply) => {
    const health = await engine.health();
    return reply.status(health.status === 'ok' ? 200 : 503).send(health);
  });

  return app;
}
