import type { FastifyError } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import type { ErrorBody } from '../contracts/errors.ts';
import { AppError } from '../errors.ts';

/**
 * Maps anything thrown in a route to the shared error shape; never leaks a stack trace. Shared by the
 * engine's API and the hosted ledger's, which differ only in their body limit.
 */
export function toErrorReply(err: unknown, bodyLimit: number): { status: number; body: ErrorBody } {
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
