import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MICRO_PER_CREDIT as C } from '../contracts/ledger.ts';
import { EngineEventSchema, type LedgerEvent } from '../contracts/events.ts';
import { AppError } from '../errors.ts';
import { createEventBus } from '../events.ts';
import { orgAccount } from './accounts.ts';
import { createLedger, type Ledger } from './ledger.ts';
import { createOrganization } from './orgs.ts';
import { manualClock, tempDatabase } from '../../test/support/temp-database.ts';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err.code;
    throw err;
  }
  return undefined;
}

function errorOf(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('did not throw');
}

let db: ReturnType<typeof tempDatabase>;
let clock: ReturnType<typeof manualClock>;
let ledger: Ledger;
let events: LedgerEvent[];
let org: string;

beforeEach(() => {
  db = tempDatabase();
  clock = manualClock();
  events = [];
  const bus = createEventBus<LedgerEvent>();
  bus.on((e) => events.push(e));
  ledger = createLedger({ sqlite: db.sqlite, now: clock.now, events: bus });
  org = createOrganization({ sqlite: db.sqlite, now: clock.now }, { name: 'Acme', planId: 'free' });
});
afterEach(() => db.dispose());

const topup = (amountMicro: number, id: string = randomUUID()) =>
  ledger.transfer({ id, orgId: org, kind: 'TOPUP', amountMicro });

describe('double entry', () => {
  it('writes two entries per transfer that sum to zero and updates the cached balances', () => {
    const t = topup(10 * C);
    expect(t.entries).toHaveLength(2);
    expect(t.entries.reduce((s, e) => s + e.amountMicro, 0)).toBe(0);
    expect(t.entries.map((e) => [e.account, e.amountMicro])).toEqual([
      [orgAccount(org), 10 * C],
      ['system:topups', -10 * C],
    ]);
    ledger.transfer({ id: randomUUID(), orgId: org, kind: 'USAGE_MESSAGE', amountMicro: 50_000 });
    ledger.transfer({
      id: randomUUID(),
      orgId: org,
      kind: 'COMMISSION',
      amountMicro: 3 * C,
      reference: 'ref',
    });
    ledger.transfer({ id: randomUUID(), orgId: org, kind: 'ADJUSTMENT', amountMicro: -C });
    ledger.transfer({ id: randomUUID(), orgId: org, kind: 'PLAN_CHARGE', amountMicro: 2 * C });
    expect(ledger.balance(org)).toEqual({
      orgId: org,
      postedMicro: 10 * C - 50_000 + 3 * C - C - 2 * C,
      pendingMicro: 0,
      availableMicro: 10 * C - 50_000 + 3 * C - C - 2 * C,
    });
    expect(ledger.accountBalance('system:usage')).toBe(50_000);
    expect(ledger.accountBalance('system:commissions')).toBe(-3 * C);
    expect(ledger.accountBalance('system:adjustments')).toBe(C);
    expect(ledger.accountBalance('system:plans')).toBe(2 * C);
    expect(ledger.verify()).toMatchObject({ ok: true });
    const all = db.sqlite.prepare(`SELECT sum(amount_micro) AS n FROM ledger_entries`).get();
    expect(all).toEqual({ n: 0 });
    expect(events.map((e) => e.type)).toEqual(Array(5).fill('ledger.posted'));
    expect(events[1]).toMatchObject({
      kind: 'USAGE_MESSAGE',
      amountMicro: -50_000,
      postedMicro: 10 * C - 50_000,
    });
    for (const e of events) expect(EngineEventSchema.parse(e)).toEqual(e);
  });

  it('is idempotent by transfer id: same body returns the stored result, another body is a CONFLICT', () => {
    const id = randomUUID();
    const first = topup(5 * C, id);
    clock.advance(1000);
    const again = topup(5 * C, id);
    expect(again).toEqual(first);
    expect(ledger.balance(org).postedMicro).toBe(5 * C);
    expect(events).toHaveLength(1);
    expect(codeOf(() => topup(6 * C, id))).toBe('CONFLICT');
    expect(codeOf(() => ledger.transfer({ id, orgId: org, kind: 'COMMISSION', amountMicro: 5 * C }))).toBe(
      'CONFLICT',
    );
    expect(
      codeOf(() => ledger.transfer({ id, orgId: org, kind: 'TOPUP', amountMicro: 5 * C, reference: 'x' })),
    ).toBe('CONFLICT');
    expect(ledger.balance(org).postedMicro).toBe(5 * C);
    expect(db.sqlite.prepare(`SELECT count(*) AS n FROM ledger_entries`).get()).toEqual({ n: 2 });
  });

  it('validates transfers', () => {
    const bad = [
      { id: 'not-a-uuid', orgId: org, kind: 'TOPUP', amountMicro: C },
      { id: randomUUID(), orgId: org, kind: 'TOPUP', amountMicro: 0.5 },
      { id: randomUUID(), orgId: org, kind: 'TOPUP', amountMicro: -C },
      { id: randomUUID(), orgId: org, kind: 'ADJUSTMENT', amountMicro: 0 },
      { id: randomUUID(), orgId: org, kind: 'REFUND', amountMicro: C },
      { id: randomUUID(), orgId: org, kind: 'TOPUP', amountMicro: C, extra: 1 },
    ];
    for (const input of bad) expect(codeOf(() => ledger.transfer(input as never))).toBe('VALIDATION_ERROR');
    expect(
      codeOf(() => ledger.transfer({ id: randomUUID(), orgId: 'nope', kind: 'TOPUP', amountMicro: C })),
    ).toBe('NOT_FOUND');
  });

  it('refuses a transfer that would take a balance past what a JS number holds exactly, and writes nothing', () => {
    const max = 1_000_000_000 * C; // the most one transfer moves
    for (let i = 0; i < 9; i++) topup(max);
    const before = ledger.balance(org).postedMicro;
    const err = (() => {
      try {
        topup(max);
      } catch (e) {
        return e as AppError;
      }
    })();
    expect(err).toMatchObject({
      code: 'VALIDATION_ERROR',
      message: expect.stringMatching(/9007199254\.740991 credits/),
    });
    expect(ledger.balance(org).postedMicro).toBe(before);
    expect(ledger.listTransfers(org, { limit: 500 }).items).toHaveLength(9);
    expect(ledger.verify().ok).toBe(true);
  });

  it('refuses a debit beyond the available balance unless forced', () => {
    topup(C);
    const err = errorOf(() =>
      ledger.transfer({ id: randomUUID(), orgId: org, kind: 'USAGE_AGENT', amountMicro: 2 * C }),
    );
    expect(err.code).toBe('INSUFFICIENT_CREDITS');
    expect(err.details).toEqual({ balance: C, required: 2 * C });
    ledger.transfer(
      { id: randomUUID(), orgId: org, kind: 'PLAN_CHARGE', amountMicro: 2 * C },
      { force: true },
    );
    expect(ledger.balance(org).postedMicro).toBe(-C);
    expect(ledger.verify().ok).toBe(true);
  });

  it('is append-only: entries and transfers cannot be updated or deleted', () => {
    const t = topup(C);
    expect(() => db.sqlite.prepare(`UPDATE ledger_entries SET amount_micro = 0`).run()).toThrow(
      /append-only/,
    );
    expect(() => db.sqlite.prepare(`DELETE FROM ledger_entries`).run()).toThrow(/append-only/);
    expect(() => db.sqlite.prepare(`DELETE FROM ledger_transfers WHERE id = ?`).run(t.id)).toThrow(
      /append-only/,
    );
  });

  it('pages transfers newest first', () => {
    const ids = Array.from({ length: 5 }, () => topup(C).id);
    const p1 = ledger.listTransfers(org, { limit: 2 });
    expect(p1.items.map((t) => t.id)).toEqual([ids[4], ids[3]]);
    // An empty cursor (`?cursor=`) is the first page.
    expect(ledger.listTransfers(org, { limit: 2, cursor: '' })).toEqual(p1);
    const p2 = ledger.listTransfers(org, { limit: 2, cursor: p1.nextCursor! });
    const p3 = ledger.listTransfers(org, { limit: 2, cursor: p2.nextCursor! });
    expect([...p2.items, ...p3.items].map((t) => t.id)).toEqual([ids[2], ids[1], ids[0]]);
    expect(p3.nextCursor).toBeNull();
  });
});

describe('reservations', () => {
  it('holds count against the available balance at once; capture posts usage and releases the rest', () => {
    topup(C);
    const r = ledger.reserve(org, 300_000, 60_000, { reference: 'msg-1', jobId: 'job-1' });
    expect(r).toMatchObject({ state: 'pending', amountMicro: 300_000, expiresAt: clock.now() + 60_000 });
    expect(ledger.balance(org)).toMatchObject({
      postedMicro: C,
      pendingMicro: 300_000,
      availableMicro: 700_000,
    });
    const r2 = ledger.reserve(org, 700_000, 60_000);
    expect(ledger.balance(org).availableMicro).toBe(0);
    const err = errorOf(() => ledger.reserve(org, 1, 60_000));
    expect(err.code).toBe('INSUFFICIENT_CREDITS');
    expect(err.details).toEqual({ balance: 0, required: 1 });

    const captured = ledger.capture(r.id, 50_000, 'USAGE_MESSAGE');
    expect(captured).toMatchObject({ state: 'posted', capturedMicro: 50_000 });
    expect(ledger.getTransfer(captured.transferId!)).toMatchObject({
      kind: 'USAGE_MESSAGE',
      amountMicro: 50_000,
      reference: 'msg-1',
      reservationId: r.id,
    });
    expect(ledger.balance(org)).toEqual({
      orgId: org,
      postedMicro: 950_000,
      pendingMicro: 700_000,
      availableMicro: 250_000,
    });
    expect(ledger.release(r2.id).state).toBe('voided');
    expect(ledger.balance(org)).toMatchObject({
      postedMicro: 950_000,
      pendingMicro: 0,
      availableMicro: 950_000,
    });
    expect(ledger.verify()).toMatchObject({ ok: true });
    expect(events.map((e) => e.type)).toEqual([
      'ledger.posted',
      'ledger.reserved',
      'ledger.reserved',
      'ledger.posted',
      'ledger.captured',
      'ledger.released',
    ]);
    for (const e of events) EngineEventSchema.parse(e);
  });

  it('resolves at most once: a second capture or release is a CONFLICT, never a second charge', () => {
    topup(C);
    const a = ledger.reserve(org, 100_000, 60_000);
    ledger.capture(a.id, 100_000, 'USAGE_AGENT');
    expect(codeOf(() => ledger.capture(a.id, 100_000, 'USAGE_AGENT'))).toBe('CONFLICT');
    expect(codeOf(() => ledger.release(a.id))).toBe('CONFLICT');
    const b = ledger.reserve(org, 100_000, 60_000);
    ledger.release(b.id);
    expect(codeOf(() => ledger.release(b.id))).toBe('CONFLICT');
    expect(errorOf(() => ledger.capture(b.id, 1, 'USAGE_AGENT')).details).toEqual({
      reservationId: b.id,
      state: 'voided',
    });
    expect(ledger.balance(org).postedMicro).toBe(900_000);
    expect(codeOf(() => ledger.release('missing'))).toBe('NOT_FOUND');
  });

  it('capturing more than held is a VALIDATION_ERROR and leaves the hold pending', () => {
    topup(C);
    const r = ledger.reserve(org, 100_000, 60_000);
    expect(codeOf(() => ledger.capture(r.id, 100_001, 'USAGE_MESSAGE'))).toBe('VALIDATION_ERROR');
    expect(codeOf(() => ledger.capture(r.id, -1, 'USAGE_MESSAGE'))).toBe('VALIDATION_ERROR');
    expect(codeOf(() => ledger.capture(r.id, 1, 'TOPUP' as never))).toBe('VALIDATION_ERROR');
    expect(ledger.getReservation(r.id)!.state).toBe('pending');
    const zero = ledger.capture(r.id, 0, 'USAGE_MESSAGE');
    expect(zero).toMatchObject({ state: 'posted', capturedMicro: 0, transferId: null });
    expect(ledger.balance(org)).toMatchObject({ postedMicro: C, availableMicro: C });
  });

  it('expired holds stop counting, cannot be captured, and are swept as expired', () => {
    topup(C);
    const r = ledger.reserve(org, 600_000, 10_000);
    const keep = ledger.reserve(org, 100_000, 60_000);
    clock.advance(10_000);
    expect(ledger.balance(org)).toMatchObject({ pendingMicro: 100_000, availableMicro: 900_000 });
    expect(errorOf(() => ledger.capture(r.id, 1, 'USAGE_MESSAGE')).details).toMatchObject({
      state: 'expired',
    });
    events.length = 0;
    const swept = ledger.sweepExpired();
    expect(swept.map((s) => [s.id, s.state])).toEqual([[r.id, 'expired']]);
    expect(events).toEqual([
      { type: 'ledger.expired', orgId: org, ts: clock.now(), reservationId: r.id, amountMicro: 600_000 },
    ]);
    expect(ledger.sweepExpired()).toEqual([]);
    expect(codeOf(() => ledger.release(r.id))).toBe('CONFLICT');
    expect(ledger.getReservation(keep.id)!.state).toBe('pending');
    expect(ledger.balance(org).postedMicro).toBe(C);
  });

  it('is idempotent by a client-made reservation id', () => {
    topup(C);
    const id = randomUUID();
    const r = ledger.reserve(org, 100_000, 60_000, { id, jobId: 'j1' });
    clock.advance(5);
    expect(ledger.reserve(org, 100_000, 60_000, { id, jobId: 'j1' })).toEqual(r);
    expect(ledger.balance(org).pendingMicro).toBe(100_000);
    expect(codeOf(() => ledger.reserve(org, 200_000, 60_000, { id, jobId: 'j1' }))).toBe('CONFLICT');
    expect(codeOf(() => ledger.reserve(org, 100_000, 60_000, { id, jobId: 'j2' }))).toBe('CONFLICT');
  });

  it('allows overdraft down to the plan limit', () => {
    db.sqlite
      .prepare(
        `INSERT INTO plans (id, name, price_micro, messages_included, max_instances, overdraft_micro, updated_at)
         VALUES ('credit-line', 'Credit line', 0, 0, 1, ?, 0)`,
      )
      .run(2 * C);
    const o = createOrganization({ sqlite: db.sqlite }, { name: 'Big', planId: 'credit-line' });
    ledger.reserve(o, 1_500_000, 60_000);
    ledger.reserve(o, 500_000, 60_000);
    expect(ledger.balance(o).availableMicro).toBe(-2 * C);
    expect(codeOf(() => ledger.reserve(o, 1, 60_000))).toBe('INSUFFICIENT_CREDITS');
  });

  it('validates reserve input', () => {
    topup(C);
    expect(codeOf(() => ledger.reserve(org, -1, 1000))).toBe('VALIDATION_ERROR');
    expect(codeOf(() => ledger.reserve(org, 1.5, 1000))).toBe('VALIDATION_ERROR');
    expect(codeOf(() => ledger.reserve(org, 1, 0))).toBe('VALIDATION_ERROR');
    expect(codeOf(() => ledger.reserve(org, 1, 1000, { id: 'x' }))).toBe('VALIDATION_ERROR');
    expect(codeOf(() => ledger.reserve('nobody', 1, 1000))).toBe('NOT_FOUND');
  });
});

describe('verify()', () => {
  it('catches a tampered cached balance, a missing cache row and an unbalanced transfer', () => {
    topup(C);
    const r = ledger.reserve(org, 100_000, 60_000);
    ledger.capture(r.id, 100_000, 'USAGE_MESSAGE');
    expect(ledger.verify()).toEqual({
      ok: true,
      balanceMismatches: [],
      unbalancedTransfers: [],
      badReservations: [],
    });

    db.sqlite
      .prepare(`UPDATE account_balances SET balance_micro = balance_micro + 1 WHERE account = ?`)
      .run(orgAccount(org));
    db.sqlite.prepare(`DELETE FROM account_balances WHERE account = 'system:usage'`).run();
    const tid = randomUUID();
    db.sqlite
      .prepare(
        `INSERT INTO ledger_transfers (id, org_id, kind, amount_micro, created_at) VALUES (?, ?, 'TOPUP', 5, 0)`,
      )
      .run(tid, org);
    db.sqlite
      .prepare(
        `INSERT INTO ledger_entries (id, transfer_id, org_id, account, amount_micro, kind, created_at)
         VALUES (?, ?, ?, 'system:topups', -5, 'TOPUP', 0)`,
      )
      .run(randomUUID(), tid, org);
    db.sqlite.prepare(`UPDATE reservations SET captured_micro = 200000 WHERE id = ?`).run(r.id);

    const report = ledger.verify();
    expect(report.ok).toBe(false);
    expect(report.balanceMismatches).toEqual(
      expect.arrayContaining([
        { account: orgAccount(org), cachedMicro: 900_001, derivedMicro: 900_000 },
        { account: 'system:usage', cachedMicro: 0, derivedMicro: 100_000 },
        { account: 'system:topups', cachedMicro: -C, derivedMicro: -C - 5 },
      ]),
    );
    expect(report.unbalancedTransfers).toEqual([{ transferId: tid, sumMicro: -5, entries: 1 }]);
    expect(report.badReservations).toEqual([{ reservationId: r.id, problem: 'captured more than held' }]);
  });
});

describe('cached pending total', () => {
  const cachedPending = () =>
    db.sqlite
      .prepare<[string], { pending_micro: number }>(
        `SELECT pending_micro FROM account_balances WHERE account = ?`,
      )
      .get(orgAccount(org))!.pending_micro;

  it('follows every reserve, capture, release and expiry, and verify() proves it', () => {
    topup(C);
    const a = ledger.reserve(org, 100_000, 1_000);
    const b = ledger.reserve(org, 200_000, 60_000);
    const c = ledger.reserve(org, 300_000, 60_000);
    expect(cachedPending()).toBe(600_000);
    ledger.capture(b.id, 50_000, 'USAGE_MESSAGE');
    ledger.release(c.id);
    expect(cachedPending()).toBe(100_000);
    // Past its expiry but not swept: still cached, no longer counted against the balance.
    clock.advance(1_000);
    expect(ledger.balance(org)).toMatchObject({ pendingMicro: 0, availableMicro: C - 50_000 });
    expect(ledger.sweepExpired().map((r) => r.id)).toEqual([a.id]);
    expect(cachedPending()).toBe(0);
    expect(ledger.verify().ok).toBe(true);

    ledger.reserve(org, 70_000, 60_000);
    db.sqlite.prepare(`UPDATE account_balances SET pending_micro = 1 WHERE account = ?`).run(orgAccount(org));
    expect(ledger.verify()).toMatchObject({
      ok: false,
      balanceMismatches: [{ account: `${orgAccount(org)}:pending`, cachedMicro: 1, derivedMicro: 70_000 }],
    });
  });

  it('is rebuilt from the holds when a database from before the cache has holds but no totals', () => {
    topup(C);
    const other = createOrganization({ sqlite: db.sqlite, now: clock.now }, { name: 'B', planId: 'free' });
    ledger.transfer({ id: randomUUID(), orgId: other, kind: 'TOPUP', amountMicro: C });
    ledger.reserve(org, 100_000, 60_000);
    ledger.reserve(org, 20_000, 60_000);
    ledger.reserve(other, 5_000, 60_000);
    // What a migrated database looks like: the column exists, every total is 0.
    db.sqlite.exec(`UPDATE account_balances SET pending_micro = 0`);
    expect(ledger.verify().ok).toBe(false);

    const reopened = createLedger({ sqlite: db.sqlite, now: clock.now });
    expect(reopened.verify().ok).toBe(true);
    expect(reopened.balance(org).pendingMicro).toBe(120_000);
    expect(reopened.balance(other).pendingMicro).toBe(5_000);
  });
});
