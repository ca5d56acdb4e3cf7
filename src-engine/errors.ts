import { z } from 'zod';
import { ERROR_STATUS, type ErrorBody, type ErrorCode } from './contracts/errors.ts';

/** An error that carries one of the shared codes; everything user-facing is turned into one. */
export class AppError extends Error {
  override readonly name = 'AppError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  toBody(): ErrorBody {
    return this.details === undefined
      ? { error: this.code, message: this.message }
      : { error: this.code, message: this.message, details: this.details };
  }
}

/** Parses `value` with `schema`, or throws a VALIDATION_ERROR listing the issues. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new AppError('VALIDATION_ERROR', `Invalid ${what}: ${z.prettifyError(parsed.error)}`, {
    issues: parsed.error.issues.map((i) => ({ path: i.path.map(String), message: i.message, code: i.code })),
  });
}

/** The message of anything thrown, Error or not. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}
