import { Card } from '../components/ui.tsx';
import { useT } from '../i18n/index.ts';

/** Referral code, level-1/level-2 referrals and commissions come from the hosted ledger, not yet wired. */
export function ReferralsScreen() {
  const t = useT();
  return (
    <Card title={t.referrals.title}>
      <div className="empty-state">
        <h3>{t.referrals.emptyTitle}</h3>
        <p>{t.referrals.emptyBody}</p>
        <p className="hint">{t.referrals.rules}</p>
      </div>
    </Card>
  );
}
