import { describe, expect, it } from 'vitest';
import { createPager, type Page, type PagerState } from '../../src-renderer/src/state/pager.ts';

/** A list of 10 items served 2 per page; each fetch waits until the test answers it. */
function server() {
  const all = Array.from({ length: 10 }, (_, i) => `item-${i}`);
  const calls: { cursor: string | undefined; answer(): void; fail(err: Error): void }[] = [];
  const fetchPage = (cursor: string | undefined) =>
    new Promise<Page<string>>((resolve, reject) => {
      const from = cursor === undefined ? 0 : Number(cursor);
      calls.push({
        cursor,
        answer: () =>
          resolve({
            items: all.slice(from, from + 2),
            next: from + 2 < all.length ? String(from + 2) : undefined,
          }),
        fail: reject,
      });
    });
  /** Answers the oldest pending fetch (or the one at `i`) and lets its continuation run. */
  const answer = async (i = 0) => {
    calls.splice(i, 1)[0]!.answer();
    await new Promise((r) => setTimeout(r, 0));
  };
  return { fetchPage, calls, answer };
}

function pagerOn(s: ReturnType<typeof server>) {
  const seen: PagerState<string>[] = [];
  const pager = createPager({ fetchPage: s.fetchPage, onChange: (st) => seen.push(st) });
  return { pager, seen };
}

describe('the paged list state', () => {
  it('loads the first page, then more on demand, until there is no next page', async () => {
    const s = server();
    const { pager } = pagerOn(s);
    void pager.reload();
    await s.answer();
    expect(pager.state).toMatchObject({ status: 'ready', items: ['item-0', 'item-1'], hasMore: true });
    for (let i = 0; i < 4; i++) {
      void pager.loadMore();
      void pager.loadMore(); // a second click while one is on its way asks nothing more
      expect(s.calls).toHaveLength(1);
      await s.answer();
    }
    expect(pager.state.items).toHaveLength(10);
    expect(pager.state.hasMore).toBe(false);
    await pager.loadMore();
    expect(s.calls).toHaveLength(0);
  });

  it('a "more" asked while a refresh is on its way asks nothing (it would page on from the old list)', async () => {
    const s = server();
    const { pager } = pagerOn(s);
    void pager.reload();
    await s.answer();
    for (let i = 0; i < 2; i++) {
      void pager.loadMore();
      await s.answer();
    }
    expect(pager.state.items).toHaveLength(6);
    void pager.reload();
    void pager.loadMore();
    expect(s.calls.map((c) => c.cursor)).toEqual([undefined]);
    await s.answer();
    expect(pager.state.items).toEqual(['item-0', 'item-1']);
    void pager.loadMore();
    await s.answer();
    expect(pager.state.items).toEqual(['item-0', 'item-1', 'item-2', 'item-3']);
  });

  it('a refresh that overtakes a "more" neither skips nor repeats a page', async () => {
    const s = server();
    const { pager } = pagerOn(s);
    void pager.reload();
    await s.answer();
    void pager.loadMore(); // asks for the page after item-1...
    void pager.reload(true); // ...and an event refreshes the list meanwhile
    await s.answer(1); // the refresh's first page comes first
    await s.answer(0); // then the overtaken "more": dropped
    expect(pager.state).toMatchObject({ items: ['item-0', 'item-1'], loadingMore: false, hasMore: true });
    void pager.loadMore();
    expect(s.calls.map((c) => c.cursor)).toEqual(['2']); // the page after item-1, not after item-3
    await s.answer();
    expect(pager.state.items).toEqual(['item-0', 'item-1', 'item-2', 'item-3']);
  });

  it('an event\'s refresh keeps the pages loaded with "more"; a plain reload starts from the first', async () => {
    const s = server();
    const { pager } = pagerOn(s);
    void pager.reload();
    await s.answer();
    void pager.loadMore();
    await s.answer();
    void pager.loadMore();
    await s.answer();
    expect(pager.state.items).toHaveLength(6);

    const refreshed = pager.reload(true);
    await s.answer();
    await s.answer();
    await s.answer();
    await refreshed;
    expect(pager.state.items).toHaveLength(6);
    expect(pager.state.hasMore).toBe(true);

    const reloaded = pager.reload();
    await s.answer();
    await reloaded;
    expect(pager.state.items).toEqual(['item-0', 'item-1']);
  });

  it('keeps what it shows when "more" fails, and says why; a failed first page is an error state', async () => {
    const s = server();
    const { pager } = pagerOn(s);
    void pager.reload();
    await s.answer();
    const more = pager.loadMore();
    s.calls.shift()!.fail(new Error('engine gone'));
    await more;
    expect(pager.state).toMatchObject({ status: 'ready', items: ['item-0', 'item-1'], loadingMore: false });
    expect(pager.state.error).toMatchObject({ message: 'engine gone' });

    const again = pager.reload();
    s.calls.shift()!.fail(new Error('still gone'));
    await again;
    expect(pager.state).toMatchObject({ status: 'error', error: { message: 'still gone' } });
  });

  it('drops answers that arrive after it was disposed', async () => {
    const s = server();
    const { pager, seen } = pagerOn(s);
    void pager.reload();
    pager.dispose();
    await s.answer();
    expect(seen).toEqual([]);
    expect(pager.state.status).toBe('loading');
  });
});
