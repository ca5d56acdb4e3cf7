/**
 * `promise`, or a rejection after `ms`: a hung service must not hang its caller (e.g. a health check).
 * The rejection is `late()` when given, else an Error saying how long it waited.
 */
export function within<T>(promise: Promise<T>, ms: number, late?: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late?.() ?? new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
