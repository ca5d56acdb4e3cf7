import type { Alert } from '../../../src-engine/contracts/compliance.ts';
import type { BillingBalance } from '../../../src-engine/contracts/billing.ts';
import { movesCreditOrQuota } from '../../../src-engine/contracts/events.ts';
import type { Check, Health } from '../../../src-engine/contracts/health.ts';
import { Async, Card, Empty, Light, QuotaBar, type LightColour } from '../components/ui.tsx';
import { formatCredits, formatDate, formatDateTime, formatDuration, formatNumber } from '../format.ts';
import type { Dictionary } from '../i18n/es.ts';
import { checkReasonText } from '../i18n/check-reason.ts';
import { useLocale, useT } from '../i18n/index.ts';
import { useOperation, type Resource } from '../state/use-operation.ts';

const CHECK_COLOUR: Record<Check['status'], LightColour> = {
  healthy: 'green',
  unhealthy: 'red',
  disabled: 'grey',
};

/** An alert's sentence in the user's language; the engine's own text is the fallback. */
export function alertText(t: Dictionary, alert: Alert): string {
  if (alert.kind === 'quota' && alert.threshold !== null)
    return t.alerts.quota(alert.threshold, alert.cycle ?? '');
  return alert.kind === 'quota' ? alert.message : t.alerts[alert.kind];
}

function HealthCard({ health }: { health: Resource<Health> }) {
  const t = useT();
  const locale = useLocale();
  return (
    <Card title={t.health.title}>
      <Async resource={health}>
        {(h) => (
          <>
            <p className={`overall overall-${h.status}`}>
              <Light colour={h.status === 'ok' ? 'green' : 'red'} label={t.health.overall[h.status]} />
              {t.health.overall[h.status]} · {t.health.uptime(formatDuration(h.uptime, locale))}
            </p>
            <ul className="checks">
              {Object.entries(h.checks).map(([name, check]) => (
                <li key={name} data-check={name}>
                  <Light colour={CHECK_COLOUR[check.status]} label={t.health.status[check.status]} />
                  <span className="check-name">{t.health.checks[name] ?? name}</span>
                  <span className="check-status">{t.health.status[check.status]}</span>
                  {check.reason && <span className="check-reason">{checkReasonText(t, locale, check)}</span>}
                </li>
              ))}
            </ul>
          </>
        )}
      </Async>
    </Card>
  );
}

function AlertsCard() {
  const t = useT();
  const locale = useLocale();
  const alerts = useOperation(
    'compliance:alerts',
    { limit: 5 },
    { refreshOn: (e) => e.type === 'alert.raised' },
  );
  return (
    <Card title={t.panel.alerts}>
      <Async resource={alerts}>
        {(page) =>
          page.items.length === 0 ? (
            <Empty>{t.panel.noAlerts}</Empty>
          ) : (
            <ul className="alerts">
              {page.items.map((a) => (
                <li key={a.id} className={`alert alert-${a.kind}`}>
                  <span className="alert-text">{alertText(t, a)}</span>
                  <time dateTime={new Date(a.createdAt).toISOString()}>
                    {formatDateTime(a.createdAt, locale)}
                  </time>
                </li>
              ))}
            </ul>
          )
        }
      </Async>
    </Card>
  );
}

/** Runs read to count today's: a desktop starts far fewer in a day; beyond, "200+". */
const RUNS_TODAY_PAGE = 200;

/** Messages counted today on the org's numbers (SmartSend's day, the org's time zone). */
function MessagesToday() {
  const t = useT();
  const locale = useLocale();
  const instances = useOperation(
    'whatsapp:instances',
    {},
    { refreshOn: (e) => e.type === 'instance.health' || e.type === 'message.status' },
  );
  if (!instances.data) return null;
  const sent = instances.data.items.reduce((n, i) => n + (i.sentToday ?? 0), 0);
  return (
    <span className="kpi-sub" data-today={sent}>
      {t.panel.today(formatNumber(sent, locale))}
    </span>
  );
}

/** Agent runs started since local midnight. */
function RunsToday() {
  const t = useT();
  const locale = useLocale();
  const runs = useOperation(
    'agents:list',
    { limit: RUNS_TODAY_PAGE },
    { refreshOn: (e) => e.type === 'agent.status' },
  );
  if (!runs.data) return null;
  const midnight = new Date().setHours(0, 0, 0, 0);
  const today = runs.data.items.filter((r) => r.createdAt >= midnight).length;
  const more = today === runs.data.items.length && runs.data.nextCursor;
  return (
    <span className="kpi-sub" data-today={today}>
      {t.panel.today(`${formatNumber(today, locale)}${more ? '+' : ''}`)}
    </span>
  );
}

/** Commissions credited this cycle: the synced local ledger's, so it shows offline too. */
function CommissionsKpi({
  commissions,
  ledger,
}: {
  commissions: BillingBalance['commissions'];
  ledger?: Check;
}) {
  const t = useT();
  const locale = useLocale();
  return (
    <div className="kpi" data-kpi="commissions">
      <span className="kpi-label">{t.panel.commissionsMonth}</span>
      <span className="kpi-value" data-micro={commissions.amountMicro}>
        {formatCredits(commissions.amountMicro, locale)} <small>{t.common.credits}</small>
      </span>
      <span className="kpi-sub">
        {ledger?.status === 'disabled'
          ? t.panel.commissionsUnconfigured
          : t.panel.commissionsCount(commissions.count)}
      </span>
    </div>
  );
}

export function PanelScreen() {
  const t = useT();
  const locale = useLocale();
  const balance = useOperation('billing:balance', {}, { refreshOn: movesCreditOrQuota });
  const health = useOperation('health:get', {}, { pollMs: 10_000 });
  return (
    <div className="screen-grid">
      <div className="kpis">
        <Async resource={balance}>
          {(b) => (
            <>
              <div className="kpi" data-kpi="available">
                <span className="kpi-label">{t.panel.available}</span>
                <span className="kpi-value">
                  {formatCredits(b.availableMicro, locale)} <small>{t.common.credits}</small>
                </span>
                <span className="kpi-sub">{t.panel.held(formatCredits(b.pendingMicro, locale))}</span>
              </div>
              <div className="kpi" data-kpi="messages">
                <span className="kpi-label">{t.panel.messagesCycle}</span>
                <QuotaBar
                  label={t.quota.messages}
                  used={b.quota.messages.used}
                  included={b.quota.messages.included}
                />
                <MessagesToday />
                <span className="kpi-sub">
                  {t.panel.cycle(
                    formatDate(b.quota.cycle.startsAt, locale),
                    formatDate(b.quota.cycle.endsAt, locale),
                  )}
                </span>
              </div>
              <div className="kpi" data-kpi="agent-runs">
                <span className="kpi-label">{t.panel.agentRunsCycle}</span>
                <QuotaBar
                  label={t.quota.aiRuns}
                  used={b.quota.aiRuns.used}
                  included={b.quota.aiRuns.included}
                />
                <RunsToday />
              </div>
              <CommissionsKpi commissions={b.commissions} ledger={health.data?.checks.ledger} />
            </>
          )}
        </Async>
      </div>
      <HealthCard health={health} />
      <AlertsCard />
    </div>
  );
}
