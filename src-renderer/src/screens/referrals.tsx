import { useEffect, useState } from 'react';
import type { ReferralsView } from '../../../src-engine/contracts/billing.ts';
import { Async, Card, Empty } from '../components/ui.tsx';
import { formatCredits, formatDateTime } from '../format.ts';
import type { Dictionary } from '../i18n/es.ts';
import { useLocale, useT } from '../i18n/index.ts';
import { aboutLedger, useOperation } from '../state/use-operation.ts';

type Report = NonNullable<ReferralsView['report']>;

/** Why the hosted ledger's report is missing or old, in the user's words. */
function SourceNotice({ view }: { view: ReferralsView }) {
  const t = useT();
  const locale = useLocale();
  const r = t.referrals;
  if (view.source === 'ok')
    return (
      <p className="hint" data-source="ok">
        {r.updated(formatDateTime(view.fetchedAt!, locale))}
      </p>
    );
  const message = {
    unconfigured: r.unconfigured,
    unlinked: r.unlinked,
    other_org: r.otherOrg,
    unreachable: view.fetchedAt ? r.unreachableCached(formatDateTime(view.fetchedAt, locale)) : r.unreachable,
  }[view.source];
  return (
    <div
      className={view.source === 'unreachable' || view.source === 'other_org' ? 'warning' : 'notice'}
      role="status"
      data-source={view.source}
    >
      <p>{message}</p>
      {view.source === 'unconfigured' ? (
        <a href="#/settings">{r.openSettings}</a>
      ) : (
        view.error && (
          <details>
            <summary>{t.common.technicalDetails}</summary>
            <p className="technical">{view.error}</p>
          </details>
        )
      )}
    </div>
  );
}

function CodeCard({ report }: { report: Report }) {
  const t = useT();
  const [copied, setCopied] = useState<'idle' | 'copied' | 'failed'>('idle');
  useEffect(() => {
    if (copied === 'idle') return;
    const id = setTimeout(() => setCopied('idle'), 2000);
    return () => clearTimeout(id);
  }, [copied]);
  const copy = () =>
    navigator.clipboard.writeText(report.referralCode).then(
      () => setCopied('copied'),
      () => setCopied('failed'),
    );
  return (
    <Card title={t.referrals.code}>
      <p className="referral-code">
        <code data-referral-code>{report.referralCode}</code>{' '}
        <button type="button" onClick={copy}>
          {t.referrals.copy}
        </button>{' '}
        <span role="status" aria-live="polite">
          {copied === 'copied' ? t.referrals.copied : copied === 'failed' ? t.referrals.copyFailed : ''}
        </span>
      </p>
      <p className="hint">{t.referrals.share}</p>
      <p className="hint">{t.referrals.rules}</p>
    </Card>
  );
}

const planName = (t: Dictionary, id: string): string =>
  t.referrals.plans[id] ?? id.charAt(0).toUpperCase() + id.slice(1);

type Referee = { orgId: string; name: string; planId: string; via?: string };

/** One level of the tree; level 2 also says which level-1 agency brought each one. */
function Level({ level, rows, via }: { level: 1 | 2; rows: Referee[]; via?: Map<string, string> }) {
  const t = useT();
  const r = t.referrals;
  return (
    <Card title={level === 1 ? r.level1(rows.length) : r.level2(rows.length)}>
      {rows.length === 0 ? (
        <Empty>{level === 1 ? r.noLevel1 : r.noLevel2}</Empty>
      ) : (
        <table className="table" data-level={level}>
          <thead>
            <tr>
              <th scope="col">{r.columns.org}</th>
              <th scope="col">{t.billing.plan}</th>
              {via && <th scope="col">{r.columns.via}</th>}
            </tr>
          </thead>
          <tbody>
            {rows.map((o) => (
              <tr key={o.orgId}>
                <td>{o.name}</td>
                <td>{planName(t, o.planId)}</td>
                {via && <td>{via.get(o.via!) ?? o.via}</td>}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

function Tree({ report }: { report: Report }) {
  const names = new Map(report.level1.map((o) => [o.orgId, o.name]));
  return (
    <div className="screen-grid two">
      <Level level={1} rows={report.level1} />
      <Level level={2} rows={report.level2} via={names} />
    </div>
  );
}

function Monthly({ report }: { report: Report }) {
  const t = useT();
  const locale = useLocale();
  const c = t.referrals.columns;
  return (
    <Card title={t.referrals.monthly}>
      {report.monthly.length === 0 ? (
        <Empty>{t.referrals.noCommissions}</Empty>
      ) : (
        <table className="table" data-monthly>
          <thead>
            <tr>
              <th scope="col">{c.month}</th>
              <th scope="col" className="num">
                {c.level1}
              </th>
              <th scope="col" className="num">
                {c.level2}
              </th>
              <th scope="col" className="num">
                {c.total}
              </th>
            </tr>
          </thead>
          <tbody>
            {report.monthly.map((m) => (
              <tr key={m.cycle} data-cycle={m.cycle}>
                <td>{m.cycle}</td>
                <td className="num">{formatCredits(m.level1Micro, locale)}</td>
                <td className="num">{formatCredits(m.level2Micro, locale)}</td>
                <td className="num">{formatCredits(m.totalMicro, locale)}</td>
              </tr>
            ))}
          </tbody>
          <tfoot>
            <tr>
              <th scope="row" colSpan={3}>
                {c.allTime}
              </th>
              <td className="num" data-total>
                {formatCredits(report.totalMicro, locale)}
              </td>
            </tr>
          </tfoot>
        </table>
      )}
    </Card>
  );
}

/** The org's referral code, its referrals two levels down and its commissions, from the hosted ledger. */
export function ReferralsScreen() {
  const t = useT();
  const locale = useLocale();
  const view = useOperation('billing:referrals', {}, { refreshOn: aboutLedger });
  return (
    <div className="screen-grid">
      <Async resource={view}>
        {(v) => (
          <>
            <SourceNotice view={v} />
            <Card title={t.referrals.thisCycle(v.commissions.cycle.cycle)}>
              <p className="big" data-commissions-cycle={v.commissions.amountMicro}>
                {formatCredits(v.commissions.amountMicro, locale)} <small>{t.common.credits}</small>
              </p>
              <p className="hint">{t.referrals.commissionsCount(v.commissions.count)}</p>
            </Card>
            {v.report ? (
              <>
                <CodeCard report={v.report} />
                <Tree report={v.report} />
                <Monthly report={v.report} />
              </>
            ) : (
              <Card title={t.referrals.title}>
                <div className="empty-state">
                  <h3>{t.referrals.emptyTitle}</h3>
                  <p>{t.referrals.emptyBody}</p>
                  <p className="hint">{t.referrals.rules}</p>
                </div>
              </Card>
            )}
          </>
        )}
      </Async>
    </div>
  );
}
