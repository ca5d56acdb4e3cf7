import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { ErrorBody } from '../contracts/errors.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';

/** Maps anything thrown in a route to the shared error shape; never leaks a stack trace. */
function toErrorReply(err: unknown, bodyLimit: number): { status: number; body: ErrorBody } {
  if (err instanceof AppError) return { status: err.status, body: err.toBody() };
  if (hasZodFastifySchemaValidationErrors(err)) {
    return {
      status: 400,
      body: {
        error: 'VALIDATION_ERROR',
        message: 'Request does not match the schema',
        details: { issues: err.validation },
      },
    };
  }
  const fe = err as Partial<FastifyError>;
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {
        status: 413,
        body: { error: 'PAYLOAD_TOO_LARGE', message: `Body larger than ${bodyLimit} bytes` },
      };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, body: { error: 'UNSUPPORTED_MEDIA_TYPE', message: 'Send application/json' } };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, body: { error: 'VALIDATION_ERROR', message: 'Malformed JSON body' } };
  }
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: 400, body: { error: 'VALIDATION_ERROR', message: fe.message ?? 'Bad request' } };
  }
  return { status: 500, body: { error: 'INTERNAL_ERROR', message: 'Internal error' } };
}

/**
 * A JSON-only Fastify app with zod schemas and every error in the shared shape: what the engine's
 * API and the hosted ledger's both are, differing only in their body limit.
 */
export function createJsonApp(opts: { bodyLimit: number; log: Logger }) {
  const reply = (err: unknown, res: FastifyReply) => {
    const { status, body } = toErrorReply(err, opts.bodyLimit);
    const retryAfterS = (body.details as { retryAfterS?: unknown } | undefined)?.retryAfterS;
    if (body.error === 'RATE_LIMITED' && typeof retryAfterS === 'number') {
      void res.header('retry-after', String(retryAfterS));
    }
    void res.status(status).send(body);
    return status;
  };
  const app = Fastify({
    logger: false,
    bodyLimit: opts.bodyLimit,
    // Ids may be up to 200 characters (IdParamSchema), as over IPC.
    routerOptions: { maxParamLength: 200 },
    // Router errors (a bad %-escape, an over-long path parameter) bypass the error handler: same shape.
    frameworkErrors: (err, _req, res: FastifyReply) => void reply(err, res),
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // Fastify parses text/plain by default; these APIs take JSON only (415 for anything else).
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler((err, req, res) => {
    // The path only: a query string may carry a credential (`?key=` on the event stream).
    if (reply(err, res) >= 500) {
      opts.log.error({ err, url: req.url.split('?')[0], method: req.method }, 'request failed');
    }
  });
  app.setNotFoundHandler((req, res) => {
    void res
      .status(404)
      .send({ error: 'NOT_FOUND', message: `No route ${req.method} ${req.url.split('?')[0]}` });
  });
  return app satisfies FastifyInstance;
}
