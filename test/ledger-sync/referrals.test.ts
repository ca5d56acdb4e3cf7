// The desktop reads its org's referral report from the real hosted ledger (in-process, PGlite) with
// the device token: only once linked, only its own org, cached for a minute, refreshed when the
// sync pulls new entries, and kept (with the reason) when the server goes away.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { REFERRALS_FRESH_MS } from '../../src-engine/ledger/sync/referrals.ts';
import type { LedgerServer } from '../../src-ledger/server.ts';
import { client, startTestLedger, testDesktop, type TestDesktop, C } from './support.ts';

let server: LedgerServer;
let admin: ReturnType<typeof client>;
let desk: TestDesktop | undefined;

beforeAll(async () => {
  server = await startTestLedger(undefined);
  admin = client(server.url);
});
afterAll(() => server?.close());
afterEach(() => desk?.dispose());

/** A's tree: B (starter) and B's referral C (starter), both able to pay their plan. */
async function tree() {
  const a = await admin.createOrg('Agencia A');
  const b = await admin.createOrg('Agencia B', { planId: 'starter', referralCode: a.referralCode });
  const c = await admin.createOrg('Agencia C', { planId: 'starter', referralCode: b.referralCode });
  await admin.topUp(b.id, 20 * C);
  await admin.topUp(c.id, 20 * C);
  return { a, b, c };
}

/** A desktop for `token` with a clock the test moves, counting the report requests it makes. */
function desktop(token: string) {
  let clock = Date.now();
  let reads = 0;
  const counting: typeof fetch = (input, init) => {
    if (String(input).includes('/referrals')) reads++;
    return fetch(input, init);
  };
  desk = testDesktop({ url: server.url, token, now: () => clock, fetch: counting });
  return {
    sync: desk.sync,
    reads: () => reads,
    advance: (ms: number) => (clock += ms),
  };
}

describe('the referral report through the device token', () => {
  it('waits for the link, then shows the two levels and refreshes when commissions are pulled', async () => {
    const { a, b, c } = await tree();
    const d = desktop((await admin.issueDevice(a.id)).token);

    expect(await d.sync.referrals(a.id)).toMatchObject({ source: 'unlinked', report: null });
    expect(d.reads()).toBe(0);
    await d.sync.run();

    const first = await d.sync.referrals(a.id);
    expect(first).toMatchObject({ source: 'ok', error: null, fetchedAt: expect.any(Number) });
    expect(first.report).toMatchObject({
      orgId: a.id,
      referralCode: a.referralCode,
      level1: [{ orgId: b.id, name: 'Agencia B', planId: 'starter' }],
      level2: [{ orgId: c.id, name: 'Agencia C', planId: 'starter', via: b.id }],
      monthly: [],
      totalMicro: 0,
    });
    expect(d.reads()).toBe(1);

    // Fresh for a minute: the panel's refreshes do not reach the server.
    await Promise.all([d.sync.referrals(a.id), d.sync.referrals(a.id)]);
    expect(d.reads()).toBe(1);

    // The billing run credits A 20 % of B's $15 and 5 % of C's; the next sync pulls them.
    await server.runBilling();
    expect((await d.sync.run()).pulled).toBeGreaterThanOrEqual(2);
    const after = await d.sync.referrals(a.id);
    expect(d.reads()).toBe(2);
    expect(after.report!.monthly).toEqual([
      expect.objectContaining({ level1Micro: 3 * C, level2Micro: 750_000, totalMicro: 3_750_000 }),
    ]);
    expect(after.report!.totalMicro).toBe(3_750_000);
  });

  it('answers other_org for an org the token does not name, without asking the server', async () => {
    const { a, b } = await tree();
    const d = desktop((await admin.issueDevice(a.id)).token);
    await d.sync.run();
    expect(await d.sync.referrals(b.id)).toMatchObject({
      source: 'other_org',
      report: null,
      error: expect.stringContaining(a.id),
    });
    expect(d.reads()).toBe(0);
  });

  it('a revoked token: unreachable with the server’s refusal, never thrown at the caller', async () => {
    const { a } = await tree();
    const device = await admin.issueDevice(a.id);
    const d = desktop(device.token);
    await d.sync.run();
    await admin.admin('POST', `/v1/admin/devices/${device.deviceId}/revoke`);
    const read = await d.sync.referrals(a.id);
    expect(read).toMatchObject({ source: 'unreachable', report: null, fetchedAt: null });
    expect(read.error).toMatch(/401/);
  });
});

describe('when the hosted ledger goes away', () => {
  it('keeps the last report with its time and the reason', async () => {
    const own = await startTestLedger(undefined);
    try {
      const api = client(own.url);
      const a = await api.createOrg('Agencia A');
      await api.createOrg('Agencia B', { referralCode: a.referralCode });
      let clock = Date.now();
      desk = testDesktop({
        url: own.url,
        token: (await api.issueDevice(a.id)).token,
        now: () => clock,
        retry: { attempts: 1 },
      });
      await desk.sync.run();
      const good = await desk.sync.referrals(a.id);
      expect(good.source).toBe('ok');

      await own.close();
      clock += REFERRALS_FRESH_MS + 1;
      const stale = await desk.sync.referrals(a.id);
      expect(stale).toMatchObject({ source: 'unreachable', fetchedAt: good.fetchedAt });
      expect(stale.report).toEqual(good.report);
      expect(stale.error).toMatch(/cannot reach the hosted ledger/);
    } finally {
      await own.close().catch(() => undefined);
    }
  });
});
