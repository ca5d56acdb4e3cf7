import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import { createOrganization } from './orgs.ts';
import { createQuotas, type Quotas } from './quota.ts';
import { manualClock, tempDatabase } from '../../test/support/temp-database.ts';

let db: ReturnType<typeof tempDatabase>;
let clock: ReturnType<typeof manualClock>;
let quotas: Quotas;

beforeEach(() => {
  db = tempDatabase();
  clock = manualClock(Date.UTC(2026, 10, 20));
  quotas = createQuotas({ sqlite: db.sqlite, now: clock.now });
});
afterEach(() => db.dispose());

describe('plans and the price book are seeded data', () => {
  it('has Free, Starter and Partner as in ARCHITECTURE.md', () => {
    expect(quotas.plans()).toEqual([
      {
        id: 'free',
        name: 'Free',
        priceMicro: 0,
        messagesIncluded: 50,
        aiRunsIncluded: 1,
        maxInstances: 1,
        whiteLabel: false,
        rateLimitPerMin: 60,
        overdraftMicro: 0,
        updatedAt: 0,
      },
      expect.objectContaining({
        id: 'starter',
        priceMicro: 15_000_000,
        messagesIncluded: 2000,
        aiRunsIncluded: null,
        maxInstances: 1,
        whiteLabel: false,
      }),
      expect.objectContaining({
        id: 'partner',
        priceMicro: 199_000_000,
        messagesIncluded: 50_000,
        aiRunsIncluded: null,
        maxInstances: 10,
        whiteLabel: true,
      }),
    ]);
    expect(quotas.price('message.overage')).toBe(50_000);
    expect(quotas.price('agent.run')).toBe(1_000_000);
    expect(Object.keys(quotas.priceBook()).sort()).toEqual(['agent.run', 'message.overage']);
    expect(() => quotas.plan('gold')).toThrow(AppError);
  });

  it('prices follow the data, not code', () => {
    db.sqlite.prepare(`UPDATE price_book SET amount_micro = 70000 WHERE key = 'message.overage'`).run();
    expect(quotas.price('message.overage')).toBe(70_000);
  });
});

describe('usage counters and quota', () => {
  it('counts per cycle atomically and reports what falls beyond the quota', () => {
    const org = createOrganization(
      { sqlite: db.sqlite, now: clock.now },
      { name: 'A', planId: 'free', cycleStart: Date.UTC(2026, 0, 31) },
    );
    expect(quotas.quota(org)).toMatchObject({
      plan: { id: 'free' },
      cycle: { cycle: '2026-10', startsAt: Date.UTC(2026, 9, 31), endsAt: Date.UTC(2026, 10, 30) },
      messages: { used: 0, included: 50 },
      aiRuns: { used: 0, included: 1 },
    });
    expect(quotas.bumpUsage(org, { messages: 49 }).overQuota).toEqual({ messages: 0, aiRuns: 0 });
    expect(quotas.bumpUsage(org, { messages: 3, aiRuns: 1 })).toEqual({
      usage: { orgId: org, cycle: '2026-10', messages: 52, aiRuns: 1 },
      overQuota: { messages: 2, aiRuns: 0 },
    });
    expect(quotas.bumpUsage(org, { aiRuns: 1 }).overQuota.aiRuns).toBe(1);
    expect(quotas.bumpUsage(org, { messages: -1 }).usage.messages).toBe(51);
    expect(quotas.bumpUsage(org, { messages: -100 }).usage.messages).toBe(0);

    clock.set(Date.UTC(2026, 10, 30));
    expect(quotas.quota(org)).toMatchObject({
      cycle: { cycle: '2026-11' },
      messages: { used: 0 },
      aiRuns: { used: 0 },
    });
    quotas.bumpUsage(org, { messages: 1 });
    expect(quotas.usage(org)).toEqual({ orgId: org, cycle: '2026-11', messages: 1, aiRuns: 0 });
  });

  it('unlimited AI runs are never over quota', () => {
    const org = createOrganization({ sqlite: db.sqlite }, { name: 'P', planId: 'partner' });
    expect(quotas.bumpUsage(org, { aiRuns: 1000 }).overQuota.aiRuns).toBe(0);
    expect(quotas.quota(org).aiRuns).toEqual({ used: 1000, included: null });
  });

  it('refuses unknown orgs and non-integer deltas', () => {
    expect(() => quotas.quota('nobody')).toThrow(/not found/);
    const org = createOrganization({ sqlite: db.sqlite }, { name: 'S', planId: 'starter' });
    expect(() => quotas.bumpUsage(org, { messages: 0.5 })).toThrow(AppError);
    expect(() => createOrganization({ sqlite: db.sqlite }, { name: 'X', planId: 'gold' })).toThrow(AppError);
    expect(() =>
      createOrganization({ sqlite: db.sqlite }, { id: org, name: 'S', planId: 'starter' }),
    ).toThrow(/already exists/);
  });
});
