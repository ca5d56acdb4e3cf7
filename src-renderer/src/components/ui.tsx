import { useCallback, useRef, useState, type ReactNode } from 'react';
import { ClientError, toClientError } from '../client/errors.ts';
import { formatNumber, formatPercent } from '../format.ts';
import { describeError } from '../i18n/describe-error.ts';
import { useLocale, useT } from '../i18n/index.ts';

/** A failed operation as a readable, translated message, with the engine's own words folded away. */
export function ErrorBox({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const t = useT();
  const readable = describeError(t, useLocale(), error);
  return (
    <div className="error-box" role="alert">
      <p className="error-message">{readable.message}</p>
      <details>
        <summary>{t.common.technicalDetails}</summary>
        <p className="technical">{readable.technical}</p>
      </details>
      {onRetry && (
        <button type="button" onClick={onRetry}>
          {t.common.retry}
        </button>
      )}
    </div>
  );
}

export function Loading() {
  return (
    <p className="loading" role="status" aria-live="polite">
      {useT().common.loading}
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

/** Loading, error (with retry) or the content: the three states every data view has. */
export function Async<T>({
  resource,
  children,
}: {
  resource: { status: 'loading' | 'ready' | 'error'; data?: T; error?: ClientError; reload(): void };
  children: (data: T) => ReactNode;
}) {
  if (resource.data !== undefined) {
    return (
      <>
        {resource.status === 'error' && <ErrorBox error={resource.error} onRetry={resource.reload} />}
        {children(resource.data)}
      </>
    );
  }
  if (resource.status === 'error') return <ErrorBox error={resource.error} onRetry={resource.reload} />;
  return <Loading />;
}

export function Card({
  title,
  children,
  actions,
}: {
  title: ReactNode;
  children: ReactNode;
  actions?: ReactNode;
}) {
  return (
    <section className="card">
      <header className="card-header">
        <h2>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}

export const QUOTA_MARKS = [70, 85, 95] as const;

/** The level a quota has reached: 0 below 70 %, then 1, 2, 3 past each mark. */
export function quotaLevel(used: number, included: number | null): number {
  if (included === null || included <= 0) return used > 0 && included === 0 ? 3 : 0;
  const pct = (used / included) * 100;
  return QUOTA_MARKS.filter((m) => pct >= m).length;
}

/** A usage bar with the 70/85/95 % marks; unlimited plans show the count only. */
export function QuotaBar({
  label,
  used,
  included,
}: {
  label: string;
  used: number;
  included: number | null;
}) {
  const t = useT();
  const locale = useLocale();
  const ratio = included ? Math.min(1, used / included) : 0;
  const level = quotaLevel(used, included);
  return (
    <div className="quota">
      <div className="quota-label">
        <span>{label}</span>
        <span>
          {t.common.of(
            formatNumber(used, locale),
            included === null ? t.common.unlimited : formatNumber(included, locale),
          )}
          {included ? ` · ${formatPercent(used / included, locale)}` : ''}
        </span>
      </div>
      {included !== null && (
        <div
          className={`quota-bar level-${level}`}
          role="meter"
          aria-label={label}
          aria-valuemin={0}
          aria-valuemax={included}
          aria-valuenow={used}
          title={t.quota.marks}
        >
          <div className="quota-fill" style={{ width: `${ratio * 100}%` }} />
          {QUOTA_MARKS.map((m) => (
            <div key={m} className="quota-mark" style={{ left: `${m}%` }} />
          ))}
        </div>
      )}
    </div>
  );
}

export type LightColour = 'green' | 'yellow' | 'red' | 'grey';

export function Light({ colour, label }: { colour: LightColour; label: string }) {
  return <span className={`light light-${colour}`} role="img" aria-label={label} title={label} />;
}

/**
 * A command the user starts (a form submit, a button): its pending state, its readable error and its
 * last result. `run` swallows the error after recording it; the view shows it.
 */
export function useAction<A extends unknown[], R>(fn: (...args: A) => Promise<R>) {
  const [state, setState] = useState<{ pending: boolean; error?: ClientError; result?: R }>({
    pending: false,
  });
  const latest = useRef(fn);
  latest.current = fn;
  const run = useCallback(async (...args: A) => {
    setState((s) => ({ ...s, pending: true, error: undefined }));
    try {
      const result = await latest.current(...args);
      setState({ pending: false, result });
      return result;
    } catch (err) {
      setState({ pending: false, error: toClientError(err) });
      return undefined;
    }
  }, []);
  const reset = useCallback(() => setState({ pending: false }), []);
  return { ...state, run, reset };
}
