import {
  ERROR_STATUS,
  ErrorBodySchema,
  type ErrorBody,
  type ErrorCode,
} from '../../../src-engine/contracts/errors.ts';

/** An operation that failed, in the shared error shape; the UI turns `code` into a readable message. */
export class ClientError extends Error {
  override readonly name = 'ClientError';
  constructor(
    readonly body: ErrorBody,
    /** Seconds to wait before trying again (429), from `Retry-After` or the error's details. */
    readonly retryAfterS?: number,
  ) {
    super(body.message);
  }

  get code(): ErrorCode {
    return this.body.error;
  }
}

const CODE_BY_STATUS = new Map<number, ErrorCode>(
  Object.entries(ERROR_STATUS).map(([code, status]) => [status, code as ErrorCode]),
);

/** The code for an HTTP status that came without a readable body. */
export function codeForStatus(status: number): ErrorCode {
  return CODE_BY_STATUS.get(status) ?? (status >= 500 ? 'INTERNAL_ERROR' : 'VALIDATION_ERROR');
}

function retryAfterFromDetails(details: unknown): number | undefined {
  if (typeof details !== 'object' || details === null) return undefined;
  const d = details as Record<string, unknown>;
  if (typeof d.retryAfterS === 'number') return d.retryAfterS;
  if (typeof d.retryAfterMs === 'number') return Math.ceil(d.retryAfterMs / 1000);
  return undefined;
}

/** A ClientError from an error body (IPC's `{error}` or an HTTP error response), validated. */
export function errorFromBody(body: unknown, status?: number, retryAfterHeader?: string | null): ClientError {
  const parsed = ErrorBodySchema.safeParse(body);
  const errorBody: ErrorBody = parsed.success
    ? parsed.data
    : {
        error: status === undefined ? 'INTERNAL_ERROR' : codeForStatus(status),
        message: 'Unexpected answer',
      };
  const header = retryAfterHeader ? Number(retryAfterHeader) : NaN;
  return new ClientError(
    errorBody,
    Number.isFinite(header) ? header : retryAfterFromDetails(errorBody.details),
  );
}

/** Anything thrown while talking to the engine, as a ClientError (network failures are UNAVAILABLE). */
export function toClientError(err: unknown): ClientError {
  if (err instanceof ClientError) return err;
  return new ClientError({
    error: 'UNAVAILABLE',
    message: err instanceof Error ? err.message : String(err),
  });
}
