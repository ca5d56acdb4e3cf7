import { useCallback, useEffect, useRef, useState } from 'react';
import type {
  OperationInput,
  OperationName,
  OperationOutput,
} from '../../../src-engine/contracts/operations.ts';
import { useClient } from '../client/context.ts';
import { ClientError, toClientError } from '../client/errors.ts';
import {
  REFRESH_DEBOUNCE_MS,
  useDebounced,
  useEngineEvents,
  type OperationOptions,
} from './use-operation.ts';

/** The operations that answer `{items, nextCursor}` and take a `cursor`. */
type PagedName = {
  [N in OperationName]: OperationOutput<N> extends { items: unknown[]; nextCursor?: string | null }
    ? 'cursor' extends keyof OperationInput<N>
      ? N
      : never
    : never;
}[OperationName];

type Item<N extends PagedName> = OperationOutput<N>['items'][number];

export interface Paged<T> {
  status: 'loading' | 'ready' | 'error';
  items: T[];
  error: ClientError | undefined;
  hasMore: boolean;
  loadingMore: boolean;
  loadMore(): void;
  reload(): void;
}

/** A cursor-paged list, newest first: the first page, then more on demand. */
export function usePaged<N extends PagedName>(
  name: N,
  input: Omit<OperationInput<N>, 'cursor'>,
  opts: Pick<OperationOptions, 'refreshOn'> = {},
): Paged<Item<N>> {
  const client = useClient();
  const key = JSON.stringify(input);
  const [items, setItems] = useState<Item<N>[]>([]);
  const [status, setStatus] = useState<Paged<Item<N>>['status']>('loading');
  const [error, setError] = useState<ClientError>();
  const [loadingMore, setLoadingMore] = useState(false);
  const cursor = useRef<string | undefined>(undefined);
  const [hasMore, setHasMore] = useState(false);
  const generation = useRef(0);

  const fetchPage = useCallback(
    async (after: string | undefined) => {
      const page = (await client.call(name, {
        ...(JSON.parse(key) as object),
        ...(after === undefined ? {} : { cursor: after }),
      } as OperationInput<N>)) as { items: Item<N>[]; nextCursor?: string | null };
      cursor.current = page.nextCursor ?? undefined;
      setHasMore(cursor.current !== undefined);
      return page.items;
    },
    [client, name, key],
  );

  const reload = useCallback(() => {
    const gen = ++generation.current;
    fetchPage(undefined).then(
      (first) => {
        if (gen !== generation.current) return;
        setItems(first);
        setError(undefined);
        setStatus('ready');
      },
      (err: unknown) => {
        if (gen !== generation.current) return;
        setError(toClientError(err));
        setStatus('error');
      },
    );
  }, [fetchPage]);

  useEffect(() => {
    setStatus('loading');
    setItems([]);
    reload();
  }, [reload]);

  const loadMore = useCallback(() => {
    if (cursor.current === undefined || loadingMore) return;
    const gen = generation.current;
    setLoadingMore(true);
    fetchPage(cursor.current)
      .then(
        (more) => gen === generation.current && setItems((prev) => [...prev, ...more]),
        (err: unknown) => gen === generation.current && setError(toClientError(err)),
      )
      .finally(() => setLoadingMore(false));
  }, [fetchPage, loadingMore]);

  const refresh = useDebounced(reload, REFRESH_DEBOUNCE_MS);
  const refreshOn = opts.refreshOn;
  useEngineEvents((e) => {
    if (refreshOn?.(e)) refresh();
  }, reload);

  return { status, items, error, hasMore, loadingMore, loadMore, reload };
}
