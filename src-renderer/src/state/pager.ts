/** One page of a cursor-paged list: its items and the cursor of the next page, if any. */
export interface Page<T> {
  items: T[];
  next: string | undefined;
}

export interface PagerState<T> {
  status: 'loading' | 'ready' | 'error';
  items: T[];
  error: unknown;
  hasMore: boolean;
  loadingMore: boolean;
}

export interface Pager<T> {
  readonly state: PagerState<T>;
  /**
   * The list from its first page again. `keep`: as many items as are shown now (a refresh caused by an
   * event must not throw away the pages the user loaded with "more"), up to `maxRefreshPages` pages.
   */
  reload(keep?: boolean): Promise<void>;
  /** The next page, appended; nothing when there is none or one is on its way. */
  loadMore(): Promise<void>;
  /** Answers still on their way are dropped (the list was left, or asks something else now). */
  dispose(): void;
}

/**
 * A cursor-paged list, newest first (the paged screens' state, apart from React). Every load belongs
 * to a generation; an answer of an older one (a "more" overtaken by a refresh) changes nothing — not
 * the items, and not the cursor, which would otherwise skip or repeat a page.
 */
export function createPager<T>(deps: {
  fetchPage: (cursor: string | undefined) => Promise<Page<T>>;
  onChange: (state: PagerState<T>) => void;
  maxRefreshPages?: number;
}): Pager<T> {
  const maxPages = deps.maxRefreshPages ?? 10;
  let state: PagerState<T> = {
    status: 'loading',
    items: [],
    error: undefined,
    hasMore: false,
    loadingMore: false,
  };
  let cursor: string | undefined;
  let generation = 0;
  const set = (patch: Partial<PagerState<T>>) => {
    state = { ...state, ...patch };
    deps.onChange(state);
  };

  return {
    get state() {
      return state;
    },
    async reload(keep = false) {
      const gen = ++generation;
      const want = keep ? state.items.length : 0;
      // A "more" asked before this lands would page on from the old list's cursor (a skipped page).
      cursor = undefined;
      try {
        let { items, next } = await deps.fetchPage(undefined);
        for (let n = 1; next !== undefined && items.length < want && n < maxPages; n++) {
          if (gen !== generation) return;
          const more = await deps.fetchPage(next);
          items = [...items, ...more.items];
          next = more.next;
        }
        if (gen !== generation) return;
        cursor = next;
        set({ status: 'ready', items, error: undefined, hasMore: next !== undefined, loadingMore: false });
      } catch (error) {
        if (gen === generation) set({ status: 'error', error, loadingMore: false });
      }
    },
    async loadMore() {
      if (cursor === undefined || state.loadingMore) return;
      const gen = generation;
      set({ loadingMore: true });
      try {
        const page = await deps.fetchPage(cursor);
        if (gen !== generation) return;
        cursor = page.next;
        set({ items: [...state.items, ...page.items], hasMore: page.next !== undefined, loadingMore: false });
      } catch (error) {
        if (gen === generation) set({ error, loadingMore: false });
      }
    },
    dispose() {
      generation++;
    },
  };
}
