import { z } from 'zod';

/**
 * Client-made key that makes a command safe to repeat: same key + same body = same result. A UUID in
 * any letter case is one key (kept in lower case): a client repeating it upper-cased repeats the request.
 */
export const IdempotencyKeySchema = z.uuid().toLowerCase();

const DECIMAL = /^\s*[+-]?\d+(\.\d+)?\s*$/;

/** A decimal number written as text (`" 42 "`, `-1.5`), or undefined for anything else (`""`, `0x10`, `1e3`). */
export const decimal = (text: string): number | undefined => (DECIMAL.test(text) ? Number(text) : undefined);

/**
 * `n` read from text (environment, config file, query string) or a JSON number. Empty text is unset
 * (`n`'s default applies); other text must be a decimal number. z.coerce.number() read "", " " and
 * `true` as 0 or 1, so `ENGINE_PORT=" "` meant "any free port" and `?limit=` was refused as 0.
 */
export const numberFromText = <T extends z.ZodType>(n: T) =>
  z.preprocess((v) => (v === '' ? undefined : typeof v === 'string' ? (decimal(v) ?? v) : v), n);

/**
 * Whether a service address carries no user name or password. fetch() refuses URLs with them, and
 * addresses are shown (`status`, the public health check): each service's credential has its own setting.
 */
export const withoutCredentials = (url: string): boolean => {
  if (!URL.canParse(url)) return true; // not a URL: the caller's own check says so
  const { username, password } = new URL(url);
  return username === '' && password === '';
};
export const NO_CREDENTIALS = 'must not hold a user name or password: give credentials in their own setting';

/** An HTTP service's address as the engine's configuration takes it (its own secret setting apart). */
export const HttpServiceUrlSchema = z
  .url({ protocol: /^https?$/ })
  .refine(withoutCredentials, NO_CREDENTIALS);

/** This desktop's device token for the hosted ledger (LEDGER_TOKEN). */
export const LedgerTokenSchema = z.string().min(16);

/** A page of a list, newest first; pass `nextCursor` back as `cursor` for the next page. */
export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() });

export const CursorQuerySchema = z
  .object({
    cursor: z.string().max(200).optional(),
    limit: numberFromText(z.number().int().min(1).max(200).default(50)),
  })
  .strict();

export const IdParamSchema = z.object({ id: z.string().min(1).max(200) }).strict();
