// End to end: one hosted ledger, two desktop engine processes for two orgs linked by referral (B
// signed up with A's code). A sends messages (past its plan: overage) through SmartSend and the
// Evolution simulator; the server tops up and runs the monthly billing; both desktops end up showing
// the server's balances, and A sees the commission B's plan earned it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BillingBalance, ReferralsView, TransactionsPage } from '../../src-engine/contracts/billing.ts';
import type { ReferralsReport } from '../../src-engine/contracts/hosted-ledger.ts';
import { WEBHOOK_SECRET_HEADER } from '../../src-engine/gateways/evolution/index.ts';
import type { LedgerServer } from '../../src-ledger/server.ts';
import { startUntil } from '../support/process.ts';
import { startEvolutionSim, type EvolutionSim } from '../sim/evolution/index.ts';
import { ADMIN_TOKEN, authorityOf, client, serverUsageIds, startTestLedger, until, C } from './support.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'agencia-desk-engine.js');
const READY = /listening on (http:\/\/127\.0\.0\.1:\d+)/;
const SECRET = 'e2e-ledger-webhook-secret-0123';

interface Desk {
  dir: string;
  orgId: string;
  apiKey: string;
  base: string;
  run: ReturnType<typeof startUntil>;
}

let server: LedgerServer;
let sim: EvolutionSim;
const desks: Desk[] = [];

beforeAll(async () => {
  server = await startTestLedger(undefined);
  sim = await startEvolutionSim({ instances: ['a-1'] });
});
afterAll(async () => {
  for (const d of desks) {
    d.run.child.kill('SIGTERM');
    await d.run.exited;
    rmSync(d.dir, { recursive: true, force: true });
  }
  await sim?.close();
  await server?.close();
});

async function desktop(name: string, orgId: string, token: string, evolution: boolean): Promise<Desk> {
  const dir = mkdtempSync(join(tmpdir(), 'agencia-sync-e2e-'));
  const env = {
    ...process.env,
    AGENCIA_DATA_DIR: dir,
    REDIS_URL: '',
    LOG_LEVEL: 'silent',
    LEDGER_URL: server.url,
    LEDGER_TOKEN: token,
    LEDGER_SYNC_INTERVAL_S: '1',
    ...(evolution
      ? {
          EVOLUTION_URL: sim.url,
          EVOLUTION_API_KEY: sim.apiKey,
          EVOLUTION_WEBHOOK_SECRET: SECRET,
          SMARTSEND_JITTER_MS: '10-20',
          SMARTSEND_BURST_PAUSE_MS: '50-80',
        }
      : {}),
  };
  const cli = (...args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...args, '--json'], { env, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Record<string, string>;
  };
  // Linking a desktop: its org gets the hosted org's id.
  const { apiKey } = cli('seed', '--org', name, '--org-id', orgId, '--plan', 'free');
  if (evolution) {
    cli(
      'instances',
      'add',
      '--org',
      orgId,
      '--name',
      'main',
      '--evolution-instance',
      'a-1',
      '--warmup-day',
      '11',
    );
  }
  const run = startUntil([BIN, 'start', '--port', '0'], READY, env);
  const base = (await run.ready)[1]!;
  const desk = { dir, orgId, apiKey: apiKey!, base, run };
  desks.push(desk);
  return desk;
}

async function api<T>(
  d: Desk,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${d.base}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${d.apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: (await res.json()) as T };
}
const balance = async (d: Desk) => (await api<BillingBalance>(d, 'GET', '/billing/balance')).body;

describe('two desktops, one hosted ledger, a referral', () => {
  it('usage, top-ups and a billing run end in the same balances on both sides, with A’s commission', async () => {
    const admin = client(server.url);
    const orgA = await admin.createOrg('Agencia A');
    const orgB = await admin.createOrg('Agencia B', { planId: 'starter', referralCode: orgA.referralCode });
    expect(orgB.referredBy).toBe(orgA.id);
    await admin.topUp(orgA.id, 1 * C);
    await admin.topUp(orgB.id, 20 * C);
    const a = await desktop('Agencia A', orgA.id, (await admin.issueDevice(orgA.id)).token, true);
    const b = await desktop('Agencia B', orgB.id, (await admin.issueDevice(orgB.id)).token, false);
    sim.setWebhook({ url: `${a.base}/webhooks/evolution`, headers: { [WEBHOOK_SECRET_HEADER]: SECRET } });

    // The first syncs bring the top-ups and B's plan down.
    await until('both desktops to have their top-ups', async () => {
      const [ba, bb] = await Promise.all([balance(a), balance(b)]);
      return ba.postedMicro === 1 * C && bb.postedMicro === 20 * C && bb.quota.plan.id === 'starter';
    });

    // A: the Free plan's 50 messages, then 3 of overage (0.05 credits each).
    const ids: string[] = [];
    for (let i = 0; i < 53; i++) {
      const r = await api<{ messageId: string }>(a, 'POST', '/whatsapp/send', {
        instanceId: 'auto',
        to: `52155${String(i).padStart(8, '0')}`,
        text: `Hola ${i}`,
      });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      ids.push(r.body.messageId);
    }
    await until('all 53 messages sent', async () => (await balance(a)).quota.messages.used === 53, 30_000);
    await until(
      'A’s overage to reach the server',
      async () => (await serverUsageIds(server, orgA.id)).size === 3,
    );

    const run = await server.runBilling();
    expect(run.commissionsMicro).toBeGreaterThanOrEqual(3 * C);
    const [authA, authB] = await Promise.all([authorityOf(server, orgA.id), authorityOf(server, orgB.id)]);
    expect(authA.balanceMicro).toBe(1 * C - 3 * 50_000 + 3 * C); // top-up - overage + 20 % of $15
    expect(authB.balanceMicro).toBe(20 * C - 15 * C);

    await until('both desktops to show the server’s balances', async () => {
      const [ba, bb] = await Promise.all([balance(a), balance(b)]);
      return ba.postedMicro === authA.balanceMicro && bb.postedMicro === authB.balanceMicro;
    });
    const txA = (await api<TransactionsPage>(a, 'GET', '/billing/transactions?limit=100')).body.items;
    expect(txA.filter((t) => t.kind === 'COMMISSION')).toEqual([
      expect.objectContaining({ kind: 'COMMISSION', amountMicro: 3 * C }),
    ]);
    const txB = (await api<TransactionsPage>(b, 'GET', '/billing/transactions?limit=100')).body.items;
    expect(txB.filter((t) => t.kind === 'PLAN_CHARGE')).toEqual([
      expect.objectContaining({ kind: 'PLAN_CHARGE', amountMicro: 15 * C }),
    ]);
    // Counters agree too: the server knows A's 53 messages.
    expect((await authorityOf(server, orgA.id)).usage.messages).toBe(53);

    const referrals = await admin.call<ReferralsReport>('GET', `/v1/orgs/${orgA.id}/referrals`, ADMIN_TOKEN);
    expect(referrals.body.totalMicro).toBe(3 * C);
    // A's desktop shows the same report through its device token, and this cycle's commission.
    const viewA = (await api<ReferralsView>(a, 'GET', '/billing/referrals')).body;
    expect(viewA).toMatchObject({ source: 'ok', error: null, report: referrals.body });
    expect(viewA.report!.level1).toEqual([{ orgId: orgB.id, name: 'Agencia B', planId: 'starter' }]);
    expect(viewA.commissions).toMatchObject({ amountMicro: 3 * C, count: 1 });
    expect((await balance(a)).commissions).toEqual({ amountMicro: 3 * C, count: 1 });
    const viewB = (await api<ReferralsView>(b, 'GET', '/billing/referrals')).body;
    expect(viewB).toMatchObject({ source: 'ok', commissions: { amountMicro: 0, count: 0 } });
    expect(viewB.report).toMatchObject({ level1: [], level2: [], totalMicro: 0 });
    expect((await server.verify()).ok).toBe(true);
  });
});
