import { z } from 'zod';

/**
 * Client-made key that makes a command safe to repeat: same key + same body = same result. A UUID in
 * any letter case is one key (kept in lower case): a client repeating it upper-cased repeats the request.
 */
export const IdempotencyKeySchema = z.uuid().toLowerCase();

/** A page of a list, newest first; pass `nextCursor` back as `cursor` for the next page. */
export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() });

export const CursorQuerySchema = z
  .object({
    cursor: z.string().max(200).optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  })
  .strict();

export const IdParamSchema = z.object({ id: z.string().min(1).max(200) }).strict();
