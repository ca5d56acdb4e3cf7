import { useCallback, useEffect, useRef, useState } from 'react';
import type { EngineEvent } from '../../../src-engine/contracts/events.ts';
import type {
  OperationInput,
  OperationName,
  OperationOutput,
} from '../../../src-engine/contracts/operations.ts';
import { useClient } from '../client/context.ts';
import { ClientError, toClientError } from '../client/errors.ts';

export interface Resource<T> {
  status: 'loading' | 'ready' | 'error';
  data: T | undefined;
  error: ClientError | undefined;
  reload(): void;
}

/** `refreshOn` for what the ledger's state shows: any `ledger.*` event (a transfer, a hold, a correction). */
export const aboutLedger = (e: EngineEvent) => e.type.startsWith('ledger.');

/** Events come in bursts (a queue draining): refetch at most this often. */
export const REFRESH_DEBOUNCE_MS = 300;

export interface OperationOptions {
  /** Refetch when an event matches (debounced). */
  refreshOn?: (event: EngineEvent) => boolean;
  /** Refetch on this period too (for state no event reports yet). */
  pollMs?: number;
  /** false = do not fetch (e.g. nothing selected). */
  enabled?: boolean;
  /** Refetch whenever this changes (a change made elsewhere in the UI). */
  revision?: number;
}

/**
 * The engine events, delivered to `listener` while the component is mounted, and a refetch after
 * the stream reconnects (events may have been missed meanwhile).
 */
export function useEngineEvents(listener: (event: EngineEvent) => void, onReconnect?: () => void): void {
  const client = useClient();
  const latest = useRef({ listener, onReconnect });
  latest.current = { listener, onReconnect };
  useEffect(() => client.subscribe((e) => latest.current.listener(e)), [client]);
  useEffect(() => {
    let wasDown = false;
    return client.onConnection((s) => {
      if (s === 'closed') wasDown = true;
      if (s === 'open' && wasDown) {
        wasDown = false;
        latest.current.onReconnect?.();
      }
    });
  }, [client]);
}

/** Calls a fetch function debounced, and cancels a pending call on unmount. */
export function useDebounced(fn: () => void, ms: number): () => void {
  const timer = useRef<ReturnType<typeof setTimeout>>(undefined);
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => () => clearTimeout(timer.current), []);
  return useCallback(() => {
    if (timer.current !== undefined) return;
    timer.current = setTimeout(() => {
      timer.current = undefined;
      latest.current();
    }, ms);
  }, [ms]);
}

/** Runs a read operation and keeps its answer fresh; keeps showing the last answer while refetching. */
export function useOperation<N extends OperationName>(
  name: N,
  input: OperationInput<N>,
  opts: OperationOptions = {},
): Resource<OperationOutput<N>> {
  const client = useClient();
  const key = JSON.stringify(input);
  const enabled = opts.enabled ?? true;
  const [state, setState] = useState<Omit<Resource<OperationOutput<N>>, 'reload'>>({
    status: 'loading',
    data: undefined,
    error: undefined,
  });
  const [generation, setGeneration] = useState(0);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  const refresh = useDebounced(reload, REFRESH_DEBOUNCE_MS);

  useEffect(() => {
    if (!enabled) return;
    let current = true;
    client.call(name, JSON.parse(key) as OperationInput<N>).then(
      (data) => current && setState({ status: 'ready', data, error: undefined }),
      (err: unknown) =>
        current && setState((s) => ({ status: 'error', data: s.data, error: toClientError(err) })),
    );
    return () => {
      current = false;
    };
  }, [client, name, key, enabled, generation, opts.revision]);

  // A different input is a different resource: show loading, not the previous answer.
  const shownKey = useRef(key);
  useEffect(() => {
    if (shownKey.current === key) return;
    shownKey.current = key;
    setState({ status: 'loading', data: undefined, error: undefined });
  }, [key]);

  const refreshOn = opts.refreshOn;
  useEngineEvents((e) => {
    if (enabled && refreshOn?.(e)) refresh();
  }, reload);

  useEffect(() => {
    if (!enabled || !opts.pollMs) return;
    const id = setInterval(reload, opts.pollMs);
    return () => clearInterval(id);
  }, [enabled, opts.pollMs, reload]);

  return { ...state, reload };
}
