import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import { createLedger, type Ledger } from './ledger.ts';
import { createOrganization } from './orgs.ts';
import { manualClock, tempDatabase } from '../../test/support/temp-database.ts';

/*
 * Model-based property test: random interleavings of top-ups, direct usage, reserve, capture,
 * release, clock moves and sweeps, on a no-overdraft plan. After every step the ledger must agree with
 * a tiny in-memory model, every transfer must sum to zero, cached balances must equal the entries,
 * and the available balance must never go below zero.
 */

type Op =
  | { op: 'topup'; amount: number }
  | { op: 'usage'; amount: number }
  | { op: 'reserve'; amount: number; ttl: number }
  | { op: 'capture'; pick: number; share: number }
  | { op: 'release'; pick: number }
  | { op: 'advance'; ms: number }
  | { op: 'sweep' };

const amount = fc.integer({ min: 1, max: 5_000_000 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('topup' as const), amount }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('usage' as const), amount }), weight: 1 },
  {
    arbitrary: fc.record({
      op: fc.constant('reserve' as const),
      amount,
      ttl: fc.integer({ min: 1, max: 10_000 }),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('capture' as const),
      pick: fc.nat(),
      share: fc.double({ min: 0, max: 1.2, noNaN: true }),
    }),
    weight: 3,
  },
  { arbitrary: fc.record({ op: fc.constant('release' as const), pick: fc.nat() }), weight: 2 },
  {
    arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 5_000 }) }),
    weight: 1,
  },
  { arbitrary: fc.constant({ op: 'sweep' as const }), weight: 1 },
);

interface Hold {
  id: string;
  amount: number;
  expiresAt: number;
  resolved: boolean;
}

let db: ReturnType<typeof tempDatabase>;
let clock: ReturnType<typeof manualClock>;
let ledger: Ledger;

beforeAll(() => {
  db = tempDatabase();
  clock = manualClock();
  ledger = createLedger({ sqlite: db.sqlite, now: clock.now });
});
afterAll(() => db.dispose());

function expectCode(fn: () => unknown, code: string) {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe(code);
    return;
  }
  throw new Error(`expected ${code}`);
}

it('random reserve/capture/release/top-up sequences keep the ledger invariants', () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) => {
      const org = createOrganization({ sqlite: db.sqlite, now: clock.now }, { name: 'p', planId: 'free' });
      let posted = 0;
      const holds: Hold[] = [];
      const live = () => holds.filter((h) => !h.resolved && h.expiresAt > clock.now());
      const pending = () => live().reduce((s, h) => s + h.amount, 0);

      for (const o of ops) {
        switch (o.op) {
          case 'topup':
            ledger.transfer({ id: randomUUID(), orgId: org, kind: 'TOPUP', amountMicro: o.amount });
            posted += o.amount;
            break;
          case 'usage': {
            const input = {
              id: randomUUID(),
              orgId: org,
              kind: 'USAGE_MESSAGE' as const,
              amountMicro: o.amount,
            };
            if (posted - pending() >= o.amount) {
              ledger.transfer(input);
              posted -= o.amount;
            } else expectCode(() => ledger.transfer(input), 'INSUFFICIENT_CREDITS');
            break;
          }
          case 'reserve':
            if (posted - pending() >= o.amount) {
              const r = ledger.reserve(org, o.amount, o.ttl);
              holds.push({ id: r.id, amount: o.amount, expiresAt: clock.now() + o.ttl, resolved: false });
            } else expectCode(() => ledger.reserve(org, o.amount, o.ttl), 'INSUFFICIENT_CREDITS');
            break;
          case 'capture': {
            const h = holds[o.pick % Math.max(holds.length, 1)];
            if (!h) break;
            const take = Math.floor(h.amount * o.share);
            const isLive = !h.resolved && h.expiresAt > clock.now();
            if (!isLive)
              expectCode(() => ledger.capture(h.id, Math.min(take, h.amount), 'USAGE_AGENT'), 'CONFLICT');
            else if (take > h.amount)
              expectCode(() => ledger.capture(h.id, take, 'USAGE_AGENT'), 'VALIDATION_ERROR');
            else {
              expect(ledger.capture(h.id, take, 'USAGE_AGENT').capturedMicro).toBe(take);
              h.resolved = true;
              posted -= take;
            }
            break;
          }
          case 'release': {
            const h = holds[o.pick % Math.max(holds.length, 1)];
            if (!h) break;
            if (!h.resolved && h.expiresAt > clock.now()) {
              ledger.release(h.id);
              h.resolved = true;
            } else expectCode(() => ledger.release(h.id), 'CONFLICT');
            break;
          }
          case 'advance':
            clock.advance(o.ms);
            break;
          case 'sweep':
            for (const r of ledger.sweepExpired()) {
              const h = holds.find((x) => x.id === r.id);
              if (h) h.resolved = true;
            }
            break;
        }
        const b = ledger.balance(org);
        expect(b).toEqual({
          orgId: org,
          postedMicro: posted,
          pendingMicro: pending(),
          availableMicro: posted - pending(),
        });
        expect(b.availableMicro).toBeGreaterThanOrEqual(0);
      }
      // The whole file: every transfer sums to zero and every cached balance equals its entries.
      expect(ledger.verify()).toEqual({
        ok: true,
        balanceMismatches: [],
        unbalancedTransfers: [],
        badReservations: [],
      });
    }),
    { numRuns: 300 },
  );
  const sum = db.sqlite.prepare(`SELECT coalesce(sum(amount_micro), 0) AS n FROM ledger_entries`).get();
  expect(sum).toEqual({ n: 0 });
});
