/**
 * Engine events on their way to the renderer: held until the page says it listens (and again while
 * it reloads), so nothing is lost at start-up; bounded, the oldest dropped first, so a page that never
 * becomes ready cannot grow memory.
 */
export interface EventRelay<E> {
  push(event: E): void;
  /** The page listens: deliver what was held, then everything as it comes. */
  ready(): void;
  /** The page is gone or reloading: hold events again. */
  notReady(): void;
  /** Events dropped because the queue was full. */
  readonly dropped: number;
}

export function createEventRelay<E>(send: (event: E) => void, max = 1000): EventRelay<E> {
  let held: E[] = [];
  let isReady = false;
  let dropped = 0;
  return {
    push(event) {
      if (isReady) return send(event);
      held.push(event);
      if (held.length > max) {
        held.shift();
        dropped++;
      }
    },
    ready() {
      isReady = true;
      const out = held;
      held = [];
      for (const e of out) send(e);
    },
    notReady() {
      isReady = false;
    },
    get dropped() {
      return dropped;
    },
  };
}
