import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import type { DeviceToken, HostedOrg, Posted } from '../../src-engine/contracts/hosted-ledger.ts';
import type { PushEntry } from '../../src-engine/contracts/sync.ts';
import { MICRO_PER_CREDIT } from '../../src-engine/contracts/ledger.ts';
import { startLedgerServer, type LedgerServer, type LedgerServerOptions } from '../../src-ledger/server.ts';
import { startPostgres, type TestPostgres } from '../support/postgres.ts';

export const ADMIN_TOKEN = 'admin-token-for-tests-0123456789';
export const STRIPE_SECRET = 'whsec_test_secret_0123456789abcdef';
/** One credit, in micro-credits. */
export const C = MICRO_PER_CREDIT;

export type Backend = 'pglite' | 'postgres';
export const BACKENDS: Backend[] = ['pglite', 'postgres'];

/**
 * A database source for one test file: `pglite` gives nothing (in-memory PGlite per server),
 * `postgres` starts one throwaway cluster for the file and gives a fresh database per call.
 */
export function useBackend(kind: Backend): { databaseUrl(): Promise<string | undefined> } {
  let pgCluster: TestPostgres | undefined;
  if (kind === 'postgres') {
    beforeAll(async () => {
      pgCluster = await startPostgres();
    }, 30_000);
    afterAll(async () => {
      await pgCluster?.stop();
    });
  }
  return {
    databaseUrl: async () => (kind === 'postgres' ? pgCluster!.createDatabase() : undefined),
  };
}

export async function startTestLedger(
  databaseUrl: string | undefined,
  opts: Partial<LedgerServerOptions> = {},
): Promise<LedgerServer> {
  return startLedgerServer({
    adminToken: ADMIN_TOKEN,
    stripeWebhookSecret: STRIPE_SECRET,
    ...(databaseUrl ? { databaseUrl } : {}),
    ...opts,
  });
}

export interface Reply<T = unknown> {
  status: number;
  body: T;
}

/** A small fetch client: JSON in, JSON out, a Bearer token. */
export function client(baseUrl: string) {
  const call = async <T>(method: string, path: string, token?: string, body?: unknown): Promise<Reply<T>> => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
  const ok = async <T>(reply: Promise<Reply<T>>): Promise<T> => {
    const r = await reply;
    if (r.status >= 300) throw new Error(`HTTP ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  };
  return {
    call,
    admin: <T>(method: string, path: string, body?: unknown) => call<T>(method, path, ADMIN_TOKEN, body),
    createOrg: (name: string, extra: { planId?: string; referralCode?: string } = {}) =>
      ok(call<HostedOrg>('POST', '/v1/admin/orgs', ADMIN_TOKEN, { name, ...extra })),
    issueDevice: (orgId: string, name = 'desk') =>
      ok(call<DeviceToken>('POST', `/v1/admin/orgs/${orgId}/devices`, ADMIN_TOKEN, { name })),
    topUp: (orgId: string, amountMicro: number, id: string = randomUUID()) =>
      ok(call<Posted>('POST', `/v1/admin/orgs/${orgId}/topups`, ADMIN_TOKEN, { id, amountMicro })),
  };
}

/** `n` usage entries with seqs from `fromSeq`, created at `at`. */
export function usageEntries(n: number, fromSeq: number, at: number, amountMicro = 50_000): PushEntry[] {
  return Array.from({ length: n }, (_, i) => ({
    id: randomUUID(),
    seq: fromSeq + i,
    kind: 'USAGE_MESSAGE' as const,
    amountMicro,
    createdAt: at,
  }));
}
