/** Thrown by a handler: run this job again after `delayMs` without spending an attempt. */
export class RetryLaterError extends Error {
  override readonly name = 'RetryLaterError';
  constructor(
    readonly delayMs: number,
    reason = 'not yet',
  ) {
    super(reason);
  }
}

/** Thrown by a handler: the job can never succeed; no more attempts, straight to the dead letters. */
export class UnrecoverableError extends Error {
  override readonly name = 'UnrecoverableError';
}
