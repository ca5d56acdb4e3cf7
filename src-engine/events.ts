/** A small typed publish/subscribe channel; listeners that throw are reported, never break emitters. */
export interface EventBus<E> {
  emit(event: E): void;
  /** Returns the unsubscribe function. */
  on(listener: (event: E) => void): () => void;
}

export function createEventBus<E>(onListenerError: (err: unknown) => void = () => {}): EventBus<E> {
  const listeners = new Set<(event: E) => void>();
  return {
    emit(event) {
      for (const l of listeners) {
        try {
          l(event);
        } catch (err) {
          onListenerError(err);
        }
      }
    },
    on(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

export interface CommitEmitter<E> {
  emit(event: E): void;
  /** After a commit: emits what was held. */
  flush(): void;
  /** After a rollback: drops what was held (those changes never happened). */
  discard(): void;
  /** Inside a transaction, before a savepoint: how much is held so far. */
  mark(): number;
  /** After rolling back to that savepoint: drops what was held since `mark` (the rest is kept). */
  discardSince(mark: number): void;
}

/**
 * Emits at once outside a transaction, but holds events emitted inside an open one until the caller
 * commits (`flush`) or rolls back (`discard`), so listeners never see changes that were undone.
 */
export function createCommitEmitter<E>(bus: EventBus<E>, inTransaction: () => boolean): CommitEmitter<E> {
  let held: E[] = [];
  return {
    emit(event) {
      if (inTransaction()) held.push(event);
      else bus.emit(event);
    },
    flush() {
      const events = held;
      held = [];
      for (const e of events) bus.emit(e);
    },
    discard() {
      held = [];
    },
    mark: () => held.length,
    discardSince(mark) {
      held.length = Math.min(held.length, mark);
    },
  };
}
