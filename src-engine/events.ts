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
