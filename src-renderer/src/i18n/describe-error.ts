import { ClientError, toClientError } from '../client/errors.ts';
import { formatCredits, type Locale } from '../format.ts';
import type { Dictionary } from './es.ts';

export interface ReadableError {
  /** The translated sentence the user reads. */
  message: string;
  /** The fields a VALIDATION_ERROR names, e.g. `to`, `text`. */
  fields: string[];
  /** The engine's own message, for the "technical details" fold. */
  technical: string;
}

function issuePaths(details: unknown): string[] {
  const issues = (details as { issues?: unknown } | undefined)?.issues;
  if (!Array.isArray(issues)) return [];
  const paths = issues.map((i: { path?: unknown; instancePath?: unknown }) => {
    if (Array.isArray(i.path)) return i.path.join('.');
    // Fastify's own validation errors name the field as a JSON pointer.
    if (typeof i.instancePath === 'string') return i.instancePath.replace(/^\//, '').replace(/\//g, '.');
    return '';
  });
  return [...new Set(paths.filter(Boolean))];
}

/** The readable, translated message for a failed operation: by error code, never the raw code. */
export function describeError(t: Dictionary, locale: Locale, thrown: unknown): ReadableError {
  const err: ClientError = toClientError(thrown);
  const fields = err.code === 'VALIDATION_ERROR' ? issuePaths(err.body.details) : [];
  let message: string = t.errors[err.code];
  if (err.code === 'RATE_LIMITED' && err.retryAfterS !== undefined) {
    message = t.errors.rateLimitedFor(Math.max(1, Math.ceil(err.retryAfterS)));
  }
  if (err.code === 'INSUFFICIENT_CREDITS') {
    const details = err.body.details as { balance?: unknown; reason?: unknown } | undefined;
    // Refused while the hosted ledger is out of reach: credit is not what is missing.
    if (details?.reason === 'ledger_offline') message = t.errors.overageOffline;
    else if (typeof details?.balance === 'number')
      message = t.errors.insufficientWithBalance(formatCredits(details.balance, locale));
  }
  if (fields.length > 0) message = `${message} ${t.errors.invalidFields(fields.join(', '))}`;
  return { message, fields, technical: err.message };
}
