import { useState } from 'react';
import { movesCreditOrQuota } from '../../../src-engine/contracts/events.ts';
import { orgDelta } from '../../../src-engine/contracts/ledger.ts';
import { PagedView } from '../components/paged-view.tsx';
import { Async, Card, QuotaBar } from '../components/ui.tsx';
import { formatCredits, formatDate, formatDateTime } from '../format.ts';
import { useLocale, useT } from '../i18n/index.ts';
import { aboutLedger, useOperation } from '../state/use-operation.ts';
import { usePaged } from '../state/use-paged.ts';
import { useSettings } from '../state/settings.ts';

function TopUp() {
  const t = useT();
  const [open, setOpen] = useState(false);
  const ledgerUrl = useSettings((s) => s.settings?.services.ledger.url ?? null);
  return (
    <div className="topup">
      <button type="button" className="primary" aria-expanded={open} onClick={() => setOpen((o) => !o)}>
        {t.billing.topUp}
      </button>
      {open && (
        <div className="topup-info" role="region" aria-label={t.billing.topUp}>
          <p>{t.billing.topUpInfo}</p>
          {ledgerUrl?.startsWith('https://') ? (
            <a href={`${ledgerUrl.replace(/\/+$/, '')}/topup`} target="_blank" rel="noreferrer noopener">
              {t.billing.topUpOpen}
            </a>
          ) : (
            <p className="hint">{t.billing.topUpNoLedger}</p>
          )}
        </div>
      )}
    </div>
  );
}

function History() {
  const t = useT();
  const locale = useLocale();
  const page = usePaged('billing:transactions', { limit: 25 }, { refreshOn: aboutLedger });
  return (
    <PagedView page={page} empty={t.billing.empty}>
      {(items) => (
        <table className="table">
          <thead>
            <tr>
              <th scope="col">{t.billing.columns.date}</th>
              <th scope="col">{t.billing.columns.kind}</th>
              <th scope="col" className="num">
                {t.billing.columns.amount}
              </th>
              <th scope="col">{t.billing.columns.reference}</th>
            </tr>
          </thead>
          <tbody>
            {items.map((tr) => {
              // What it did to the org's credit: the amount is unsigned except for ADJUSTMENT.
              const delta = orgDelta(tr.kind, tr.amountMicro);
              return (
                <tr key={tr.id}>
                  <td>{formatDateTime(tr.createdAt, locale)}</td>
                  <td>{t.billing.kinds[tr.kind]}</td>
                  <td className={`num ${delta < 0 ? 'negative' : 'positive'}`} data-micro={delta}>
                    {formatCredits(delta, locale)}
                  </td>
                  <td className="reference">{tr.reference ?? t.common.none}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </PagedView>
  );
}

export function BillingScreen() {
  const t = useT();
  const locale = useLocale();
  const balance = useOperation('billing:balance', {}, { refreshOn: movesCreditOrQuota });
  return (
    <div className="screen-grid">
      <Async resource={balance}>
        {(b) => (
          <div className="screen-grid two">
            <Card title={t.billing.available} actions={<TopUp />}>
              <dl className="balances">
                <div data-balance="available">
                  <dt>{t.billing.available}</dt>
                  <dd className="big">
                    {formatCredits(b.availableMicro, locale)} <small>{t.common.credits}</small>
                  </dd>
                </div>
                <div data-balance="posted">
                  <dt>{t.billing.posted}</dt>
                  <dd>{formatCredits(b.postedMicro, locale)}</dd>
                </div>
                <div data-balance="held">
                  <dt>{t.billing.held}</dt>
                  <dd>{formatCredits(b.pendingMicro, locale)}</dd>
                </div>
              </dl>
            </Card>
            <Card title={`${t.billing.plan}: ${b.quota.plan.name}`}>
              <p>{t.billing.perMonth(formatCredits(b.quota.plan.priceMicro, locale))}</p>
              <p className="hint">
                {t.panel.cycle(
                  formatDate(b.quota.cycle.startsAt, locale),
                  formatDate(b.quota.cycle.endsAt, locale),
                )}
              </p>
              <QuotaBar
                label={t.quota.messages}
                used={b.quota.messages.used}
                included={b.quota.messages.included}
              />
              <QuotaBar
                label={t.quota.aiRuns}
                used={b.quota.aiRuns.used}
                included={b.quota.aiRuns.included}
              />
            </Card>
          </div>
        )}
      </Async>
      <Card title={t.billing.history}>
        <History />
      </Card>
    </div>
  );
}
