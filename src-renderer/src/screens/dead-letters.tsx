import { useState } from 'react';
import type { DeadLetter } from '../../../src-engine/contracts/queue.ts';
import { useClient } from '../client/context.ts';
import { PagedView } from '../components/paged-view.tsx';
import { Card, ErrorBox, useAction } from '../components/ui.tsx';
import { formatDateTime } from '../format.ts';
import { deadLetterErrorText } from '../i18n/dead-letter-error.ts';
import { useLocale, useT } from '../i18n/index.ts';
import { usePaged } from '../state/use-paged.ts';

/** Why it failed, in the user's words when the engine gave a code, with the engine's own text under it. */
function ErrorReason({ letter }: { letter: DeadLetter }) {
  const t = useT();
  const said = deadLetterErrorText(t, letter);
  if (said === undefined) return <>{letter.error}</>;
  return (
    <>
      {said}
      <small className="hint">{letter.error}</small>
    </>
  );
}

function Actions({ letter, onDone }: { letter: DeadLetter; onDone: () => void }) {
  const t = useT();
  const client = useClient();
  const retry = useAction(() => client.call('dlq:retry', { id: letter.id }));
  const resolve = useAction(() => client.call('dlq:resolve', { id: letter.id }));
  const after = async (action: typeof retry | typeof resolve) => {
    if (await action.run()) onDone();
  };
  return (
    <div className="row-actions">
      <button type="button" onClick={() => void after(retry)} disabled={retry.pending}>
        {t.deadLetters.retry}
      </button>
      {!letter.resolved && (
        <button type="button" onClick={() => void after(resolve)} disabled={resolve.pending}>
          {t.deadLetters.resolve}
        </button>
      )}
      {retry.result && (
        <span className="ok" role="status">
          {t.deadLetters.retried(retry.result.id)}
        </span>
      )}
      {(retry.error ?? resolve.error) && <ErrorBox error={retry.error ?? resolve.error} />}
    </div>
  );
}

export function DeadLettersScreen() {
  const t = useT();
  const locale = useLocale();
  const [resolved, setResolved] = useState<'false' | 'true'>('false');
  const page = usePaged('dlq:list', { resolved, limit: 25 }, { refreshOn: (e) => e.type === 'job.dead' });
  return (
    <Card
      title={t.deadLetters.title}
      actions={
        <div className="row-actions">
          <button type="button" onClick={page.reload}>
            {t.common.refresh}
          </button>
          <div className="tabs" role="group" aria-label={t.deadLetters.title}>
            {(['false', 'true'] as const).map((v) => (
              <button key={v} type="button" aria-pressed={resolved === v} onClick={() => setResolved(v)}>
                {v === 'false' ? t.deadLetters.open : t.deadLetters.resolved}
              </button>
            ))}
          </div>
        </div>
      }
    >
      <PagedView page={page} empty={resolved === 'false' ? t.deadLetters.empty : t.deadLetters.emptyResolved}>
        {(items) => (
          <table className="table">
            <thead>
              <tr>
                <th scope="col">{t.deadLetters.columns.queue}</th>
                <th scope="col">{t.deadLetters.columns.error}</th>
                <th scope="col" className="num">
                  {t.deadLetters.columns.attempts}
                </th>
                <th scope="col">{t.deadLetters.columns.failedAt}</th>
                <th scope="col">{t.deadLetters.columns.actions}</th>
              </tr>
            </thead>
            <tbody>
              {items.map((d) => (
                <tr key={d.id} data-dead-letter={d.id}>
                  <td>
                    {t.deadLetters.queues[d.queue] ?? d.queue}
                    {d.retriedAs.length > 0 && (
                      <small className="hint">{t.deadLetters.retriedBefore(d.retriedAs.length)}</small>
                    )}
                  </td>
                  <td className="error-text">
                    <ErrorReason letter={d} />
                  </td>
                  <td className="num">{d.attempts}</td>
                  <td>{formatDateTime(d.failedAt, locale)}</td>
                  <td>
                    <Actions letter={d} onDone={page.reload} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </PagedView>
    </Card>
  );
}
