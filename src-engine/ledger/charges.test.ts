import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { manualClock, tempDatabase } from '../../test/support/temp-database.ts';
import { AppError } from '../errors.ts';
import { createCharges, type Admission, type Charges } from './charges.ts';
import { createLedger, type Ledger } from './ledger.ts';
import { createOrganization } from './orgs.ts';

const HOUR = 3_600_000;
const PRICE = 50_000; // message.overage: 0.05 credits

let db: ReturnType<typeof tempDatabase>;
let clock: ReturnType<typeof manualClock>;
let ledger: Ledger;
let charges: Charges;
let orgId: string;

beforeEach(() => {
  db = tempDatabase();
  clock = manualClock(Date.UTC(2026, 10, 20, 9));
  ledger = createLedger({ sqlite: db.sqlite, now: clock.now });
  charges = createCharges({ sqlite: db.sqlite, ledger, now: clock.now });
  orgId = createOrganization({ sqlite: db.sqlite, now: clock.now }, { name: 'Sol', planId: 'free' });
  // The Free plan's 50 included messages are used: every further one is paid.
  db.sqlite
    .prepare(`INSERT INTO usage_counters (org_id, cycle, messages, updated_at) VALUES (?, '2026-11', 50, 0)`)
    .run(orgId);
  credit(PRICE);
});
afterEach(() => db.dispose());

function credit(amountMicro: number) {
  ledger.transfer({ id: randomUUID(), orgId, kind: 'ADJUSTMENT', amountMicro, reference: 'test' });
}
const admit = (ttlMs = 2 * HOUR) =>
  db.sqlite.transaction(() => charges.admit(orgId, 'message', { reference: 'message:m1', ttlMs }))();
const renew = (a: Admission) =>
  db.sqlite.transaction(() => charges.renew(a, { ttlMs: 2 * HOUR, minRemainingMs: HOUR }))();

describe('a hold that expired while its work waited', () => {
  it('is not spent twice: the work holds its price again, or is refused when the credit went elsewhere', () => {
    const a = admit();
    expect(a.free).toBe(false);
    clock.advance(3 * HOUR);
    expect(ledger.sweepExpired().map((r) => r.id)).toEqual([a.reservationId]);
    // The credit came back and was held for something else meanwhile.
    const other = ledger.reserve(orgId, PRICE, 2 * HOUR, { reference: 'message:m2' });
    expect(ledger.balance(orgId).availableMicro).toBe(0);

    const refused = (() => {
      try {
        renew(a);
      } catch (err) {
        return err;
      }
    })();
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ code: 'INSUFFICIENT_CREDITS' });
    expect(ledger.balance(orgId)).toMatchObject({ availableMicro: 0, pendingMicro: PRICE });

    // With credit again, it holds afresh and is captured once: never below zero.
    ledger.release(other.id);
    const renewed = renew(a);
    expect(renewed.reservationId).not.toBe(a.reservationId);
    expect(ledger.getReservation(renewed.reservationId!)).toMatchObject({
      state: 'pending',
      reference: 'message:m1',
    });
    db.sqlite.transaction(() => charges.settle(renewed, 'success'))();
    expect(ledger.balance(orgId)).toMatchObject({ postedMicro: 0, pendingMicro: 0, availableMicro: 0 });
    expect(ledger.verify().ok).toBe(true);
  });

  it('leaves a hold with time to spare, and replaces one about to expire', () => {
    const a = admit(2 * HOUR);
    expect(renew(a)).toBe(a);
    clock.advance(HOUR + 60_000); // 59 min left: less than the margin
    const renewed = renew(a);
    expect(ledger.getReservation(a.reservationId!)!.state).toBe('voided');
    expect(ledger.getReservation(renewed.reservationId!)).toMatchObject({
      state: 'pending',
      amountMicro: PRICE,
    });
    expect(ledger.balance(orgId)).toMatchObject({ pendingMicro: PRICE, availableMicro: 0 });
  });

  it('a hold expiring between the settlement reading it and capturing it is charged once, not an error', () => {
    const a = admit(2 * HOUR);
    // The ledger's clock is past the expiry, the settlement's is not: the capture answers CONFLICT.
    const late = createCharges({
      sqlite: db.sqlite,
      ledger: createLedger({ sqlite: db.sqlite, now: () => clock.now() + 3 * HOUR }),
      now: clock.now,
    });
    db.sqlite.transaction(() => late.settle(a, 'success'))();
    const usage = db.sqlite
      .prepare(
        `SELECT count(*) AS n, sum(amount_micro) AS micro FROM ledger_transfers WHERE kind = 'USAGE_MESSAGE'`,
      )
      .get();
    expect(usage).toEqual({ n: 1, micro: PRICE });
    expect(ledger.verify().ok).toBe(true);
  });
});

describe('admission', () => {
  it("runs only inside the caller's transaction, whose rollback takes its count and its hold back", () => {
    expect(() => charges.admit(orgId, 'message', { reference: 'message:m1', ttlMs: HOUR })).toThrow(
      /transaction/,
    );
    expect(() =>
      db.sqlite.transaction(() => {
        expect(charges.admit(orgId, 'message', { reference: 'message:m1', ttlMs: HOUR }).free).toBe(false);
        expect(ledger.balance(orgId).pendingMicro).toBe(PRICE);
        throw new Error('the command failed after admitting');
      })(),
    ).toThrow('the command failed');
    expect(ledger.balance(orgId)).toMatchObject({ pendingMicro: 0, availableMicro: PRICE });
    const held = db.sqlite
      .prepare(`SELECT messages_held AS n FROM usage_counters WHERE org_id = ?`)
      .pluck()
      .get(orgId);
    expect(held).toBe(0);
    expect(ledger.verify().ok).toBe(true);
  });
});
