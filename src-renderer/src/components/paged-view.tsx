import type { ReactNode } from 'react';
import { useT } from '../i18n/index.ts';
import type { Paged } from '../state/use-paged.ts';
import { Empty, ErrorBox, Loading } from './ui.tsx';

/** A paged list's loading, error and empty states, its items, and the "load more" button. */
export function PagedView<T>({
  page,
  empty,
  children,
}: {
  page: Paged<T>;
  empty: ReactNode;
  children: (items: T[]) => ReactNode;
}) {
  const t = useT();
  if (page.status === 'loading') return <Loading />;
  if (page.status === 'error' && page.items.length === 0) {
    return <ErrorBox error={page.error} onRetry={page.reload} />;
  }
  if (page.items.length === 0) return <Empty>{empty}</Empty>;
  return (
    <>
      {children(page.items)}
      {page.error && <ErrorBox error={page.error} />}
      {page.hasMore && (
        <button type="button" onClick={page.loadMore} disabled={page.loadingMore}>
          {page.loadingMore ? t.common.loading : t.common.loadMore}
        </button>
      )}
    </>
  );
}
