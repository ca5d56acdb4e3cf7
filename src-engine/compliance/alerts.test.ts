import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { manualClock, tempDatabase } from '../../test/support/temp-database.ts';
import type { AlertEvent } from '../contracts/events.ts';
import { createLedger } from '../ledger/ledger.ts';
import { createOrganization } from '../ledger/orgs.ts';
import { createQuotas } from '../ledger/quota.ts';
import { createCompliance } from './alerts.ts';

let db: ReturnType<typeof tempDatabase>;
beforeEach(() => {
  db = tempDatabase();
});
afterEach(() => db.dispose());

function setup() {
  const clock = manualClock();
  const events: AlertEvent[] = [];
  const ledger = createLedger({ sqlite: db.sqlite, now: clock.now });
  const quotas = createQuotas({ sqlite: db.sqlite, now: clock.now });
  const compliance = createCompliance({
    sqlite: db.sqlite,
    quotas,
    ledger,
    lowCreditMicro: 1_000_000,
    events: { emit: (e) => events.push(e) },
    now: clock.now,
  });
  const orgId = createOrganization({ sqlite: db.sqlite, now: clock.now }, { name: 'Sol', planId: 'free' });
  ledger.transfer({ id: randomUUID(), orgId, kind: 'TOPUP', amountMicro: 5_000_000 });
  return { clock, events, ledger, quotas, compliance, orgId };
}

describe('compliance alerts', () => {
  it('raises 70, 85 and 95 % of the monthly messages once each per cycle, as events', () => {
    const { compliance, quotas, orgId, events, clock } = setup();
    quotas.bumpUsage(orgId, { messages: 34 });
    expect(compliance.checkOrg(orgId)).toEqual([]);
    quotas.bumpUsage(orgId, { messages: 1 });
    expect(compliance.checkOrg(orgId).map((a) => a.threshold)).toEqual([70]);
    expect(compliance.checkOrg(orgId)).toEqual([]);
    quotas.bumpUsage(orgId, { messages: 13 });
    expect(compliance.checkOrg(orgId).map((a) => a.threshold)).toEqual([85, 95]);
    expect(events.map((e) => e.alert.threshold)).toEqual([70, 85, 95]);
    expect(events[0]).toMatchObject({
      type: 'alert.raised',
      orgId,
      alert: { kind: 'quota', cycle: '2026-11' },
    });
    // The next cycle starts from zero and may alert again.
    clock.advance(31 * 86_400_000);
    quotas.bumpUsage(orgId, { messages: 40 });
    expect(compliance.checkOrg(orgId).map((a) => [a.threshold, a.cycle])).toEqual([[70, '2026-12']]);
  });

  it('raises low credit once per cycle, and one-off alerts once per subject', () => {
    const { compliance, ledger, orgId } = setup();
    expect(compliance.checkOrg(orgId)).toEqual([]);
    ledger.transfer({ id: randomUUID(), orgId, kind: 'ADJUSTMENT', amountMicro: -4_500_000 });
    const [low] = compliance.checkOrg(orgId);
    expect(low).toMatchObject({ kind: 'low_credit', message: expect.stringContaining('0.5') });
    expect(compliance.checkOrg(orgId)).toEqual([]);
    expect(compliance.raise(orgId, 'instance_banned', 'inst-1', 'Number banned')).toMatchObject({
      kind: 'instance_banned',
    });
    expect(compliance.raise(orgId, 'instance_banned', 'inst-1', 'Number banned')).toBeNull();
    expect(compliance.raise(orgId, 'instance_banned', 'inst-2', 'Number banned')).not.toBeNull();
    // What can happen again (a number banned after it was paired again): an alert each time.
    const again = (subject: string) =>
      compliance.raise(orgId, 'instance_banned', subject, 'Number banned', { again: true });
    expect(again('inst-1')).toMatchObject({ threshold: 2 });
    expect(again('inst-1')).toMatchObject({ threshold: 3 });
    expect(again('inst-3')).toMatchObject({ threshold: 1 });
  });
});
