import { useCallback, useEffect, useMemo, useState } from 'react';
import type {
  OperationInput,
  OperationName,
  OperationOutput,
} from '../../../src-engine/contracts/operations.ts';
import { useClient } from '../client/context.ts';
import { toClientError, type ClientError } from '../client/errors.ts';
import { createPager, type PagerState } from './pager.ts';
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

/** A cursor-paged list, newest first: the first page, then more on demand (state in pager.ts). */
export function usePaged<N extends PagedName>(
  name: N,
  input: Omit<OperationInput<N>, 'cursor'>,
  opts: Pick<OperationOptions, 'refreshOn'> = {},
): Paged<Item<N>> {
  const client = useClient();
  const key = JSON.stringify(input);
  const [state, setState] = useState<PagerState<Item<N>>>(() => ({
    status: 'loading',
    items: [],
    error: undefined,
    hasMore: false,
    loadingMore: false,
  }));
  const pager = useMemo(
    () =>
      createPager<Item<N>>({
        async fetchPage(cursor) {
          try {
            const page = (await client.call(name, {
              ...(JSON.parse(key) as object),
              ...(cursor === undefined ? {} : { cursor }),
            } as OperationInput<N>)) as { items: Item<N>[]; nextCursor?: string | null };
            return { items: page.items, next: page.nextCursor ?? undefined };
          } catch (err) {
            throw toClientError(err);
          }
        },
        onChange: setState,
      }),
    [client, name, key],
  );

  useEffect(() => {
    setState(pager.state);
    void pager.reload();
    return () => pager.dispose();
  }, [pager]);

  // An event or a reconnection refreshes the list without dropping the pages loaded with "more".
  const refresh = useDebounced(() => void pager.reload(true), REFRESH_DEBOUNCE_MS);
  const refreshOn = opts.refreshOn;
  useEngineEvents(
    (e) => {
      if (refreshOn?.(e)) refresh();
    },
    () => void pager.reload(true),
  );

  return {
    status: state.status,
    items: state.items,
    error: state.error as ClientError | undefined,
    hasMore: state.hasMore,
    loadingMore: state.loadingMore,
    loadMore: useCallback(() => void pager.loadMore(), [pager]),
    reload: useCallback(() => void pager.reload(), [pager]),
  };
}
