import {
  CaptureInputSchema,
  orgDelta,
  ReserveInputSchema,
  TransferInputSchema,
  type Balance,
  type LedgerKind,
  type Reservation,
  type ReserveInput,
  type Transfer,
  type TransferInput,
  type UsageKind,
  type VerifyReport,
} from '../contracts/ledger.ts';
import type { LedgerEvent } from '../contracts/events.ts';
import type { Sqlite } from '../db/connection.ts';
import { AppError, parseOrThrow } from '../errors.ts';
import { orgAccount, transferLegs } from './accounts.ts';
import {
  prepareStatements,
  rebuildPendingIfStale,
  toReservation,
  toTransfer,
  type BalanceFigures,
  type OrgRow,
  type ReservationRow,
  type Statements,
} from './store.ts';
import { formatCredits } from './money.ts';
import { verifyLedger } from './verify.ts';
import { uuidv7 } from '../ids.ts';

/** The ports the ledger needs: no singletons. */
export interface LedgerDeps {
  sqlite: Sqlite;
  now?: () => number;
  /** Ledger events go here after each commit (an `EventBus<EngineEvent>` fits). */
  events?: { emit(event: LedgerEvent): void };
  /** Makes entry and transfer ids (UUIDs). */
  newId?: () => string;
}

export interface TransferOptions {
  /**
   * Post a debit even if it takes the org below what its plan allows: for entries the hosted ledger
   * already decided (it is authoritative). Local usage never uses this.
   */
  force?: boolean;
  /**
   * When it happened, if not now: the hosted ledger's time of an entry pulled from it, so that it
   * falls in the cycle (and the statement's place) it was written for.
   */
  at?: number;
}

export interface Ledger {
  /** Posts a transfer (two entries summing to zero) and updates the cached balances, atomically. */
  transfer(input: TransferInput, opts?: TransferOptions): Transfer;
  getTransfer(id: string): Transfer | undefined;
  /** The org's transfers, newest first; pass `nextCursor` back for the next page. */
  listTransfers(
    orgId: string,
    opts?: { cursor?: string; limit?: number },
  ): { items: Transfer[]; nextCursor: string | null };
  balance(orgId: string): Balance;
  /** The cached balance of any account (`org:<id>:credits`, `system:usage`, ...); 0 if never used. */
  accountBalance(account: string): number;
  /** A pending hold that counts against the available balance at once. */
  reserve(
    orgId: string,
    amountMicro: number,
    ttlMs: number,
    opts?: Pick<ReserveInput, 'id' | 'reference' | 'jobId'>,
  ): Reservation;
  /**
   * `reserve` for the credit guard, which holds a price-book amount on every charged command: in the
   * caller's transaction, without a savepoint or a validation of its own (its arguments are the
   * engine's, not a client's). A failure part-way leaves what it wrote to the caller's rollback.
   */
  holdInTransaction(
    orgId: string,
    amountMicro: number,
    ttlMs: number,
    opts?: Pick<ReserveInput, 'reference' | 'jobId'>,
  ): Reservation;
  /** Posts `amountMicro` (<= held) as usage and releases the rest. Once only. */
  capture(id: string, amountMicro: number, kind: UsageKind): Reservation;
  /** Voids a pending hold. Once only. */
  release(id: string): Reservation;
  getReservation(id: string): Reservation | undefined;
  /** Marks every pending hold past its expiry as `expired`; returns them. */
  sweepExpired(limit?: number): Reservation[];
  verify(): VerifyReport;
}

const sameTransferBody = (
  row: {
    org_id: string;
    kind: string;
    amount_micro: number;
    reference: string | null;
    reservation_id: string | null;
  },
  b: {
    orgId: string;
    kind: string;
    amountMicro: number;
    reference: string | null;
    reservationId: string | null;
  },
) =>
  row.org_id === b.orgId &&
  row.kind === b.kind &&
  row.amount_micro === b.amountMicro &&
  row.reference === b.reference &&
  row.reservation_id === b.reservationId;

/** What a balance holds exactly (a JS number is an exact integer up to 2^53 - 1 micro-credits). */
const MAX_BALANCE_CREDITS = formatCredits(Number.MAX_SAFE_INTEGER);

export function createLedger(deps: LedgerDeps): Ledger {
  const { sqlite } = deps;
  const now = deps.now ?? Date.now;
  const newId = deps.newId ?? uuidv7;
  const st: Statements = prepareStatements(sqlite);
  rebuildPendingIfStale(sqlite, now());

  const emitAll = (events: LedgerEvent[]) => {
    for (const e of events) deps.events?.emit(e);
  };

  function orgOrThrow(orgId: string): OrgRow {
    const org = st.org.get(orgId);
    if (!org) throw new AppError('NOT_FOUND', `Organization ${orgId} not found`);
    return org;
  }

  function toBalance(orgId: string, figures: BalanceFigures): Balance {
    const postedMicro = figures.balance_micro ?? 0;
    // O(1) from the cached total; the expired holds not yet swept are few (the sweeper runs every 30 s).
    const pending = figures.pending_micro;
    const pendingMicro = pending === null ? 0 : pending - figures.expired_micro;
    return { orgId, postedMicro, pendingMicro, availableMicro: postedMicro - pendingMicro };
  }

  /** The org's overdraft and balance, in one read; NOT_FOUND when there is no such org. */
  function readBalance(orgId: string, at: number): { balance: Balance; overdraftMicro: number } {
    const figures = st.orgBalance.get({ account: orgAccount(orgId), org: orgId, at });
    if (!figures) throw new AppError('NOT_FOUND', `Organization ${orgId} not found`);
    return { balance: toBalance(orgId, figures), overdraftMicro: figures.overdraft_micro };
  }

  function readTransfer(id: string): Transfer | undefined {
    const row = st.transfer.get(id);
    return row && toTransfer(row, st.entriesOf.all(id));
  }

  function insufficient(balance: Balance, required: number): AppError {
    return new AppError('INSUFFICIENT_CREDITS', 'Not enough credits', {
      balance: balance.availableMicro,
      required,
    });
  }

  /**
   * Inside a transaction: writes a transfer and its entries, or returns the stored one for a repeated
   * id with the same body. The event is null when nothing new was written.
   */
  function postInTx(
    body: {
      id: string;
      orgId: string;
      kind: LedgerKind;
      amountMicro: number;
      reference: string | null;
      reservationId: string | null;
    },
    at: number,
    check: (delta: number) => void,
  ): { transfer: Transfer; event: LedgerEvent | null } {
    const existing = st.transfer.get(body.id);
    if (existing) {
      if (!sameTransferBody(existing, body)) {
        throw new AppError('CONFLICT', `Transfer ${body.id} already exists with a different body`, {
          transferId: body.id,
        });
      }
      return { transfer: toTransfer(existing, st.entriesOf.all(body.id)), event: null };
    }
    check(orgDelta(body.kind, body.amountMicro));
    st.insertTransfer.run(
      body.id,
      body.orgId,
      body.kind,
      body.amountMicro,
      body.reference,
      body.reservationId,
      at,
    );
    let postedMicro = 0;
    const account = orgAccount(body.orgId);
    for (const [acct, amount] of transferLegs(body.orgId, body.kind, body.amountMicro)) {
      st.insertEntry.run(newId(), body.id, body.orgId, acct, amount, body.kind, body.reference, at);
      const isOrg = acct === account;
      const after = st.addBalance.get(acct, isOrg ? body.orgId : null, amount, at)!.balance_micro;
      // SQLite sums in 64 bits, a JS number is exact to 2^53: refused (rolled back) rather than read wrong.
      if (!Number.isSafeInteger(after)) {
        throw new AppError(
          'VALIDATION_ERROR',
          `This transfer would take the balance of ${acct} past ${MAX_BALANCE_CREDITS} credits, the most it holds exactly`,
          { account: acct },
        );
      }
      if (isOrg) postedMicro = after;
    }
    return {
      transfer: readTransfer(body.id)!,
      event: {
        type: 'ledger.posted',
        orgId: body.orgId,
        ts: at,
        transferId: body.id,
        kind: body.kind,
        amountMicro: orgDelta(body.kind, body.amountMicro),
        postedMicro,
      },
    };
  }

  const transferTx = sqlite.transaction(
    (input: ReturnType<typeof TransferInputSchema.parse>, force: boolean, at: number) => {
      orgOrThrow(input.orgId);
      return postInTx(
        {
          id: input.id,
          orgId: input.orgId,
          kind: input.kind,
          amountMicro: input.amountMicro,
          reference: input.reference ?? null,
          reservationId: null,
        },
        at,
        (delta) => {
          if (delta >= 0 || force) return;
          const { balance, overdraftMicro } = readBalance(input.orgId, at);
          if (balance.availableMicro + delta < -overdraftMicro) throw insufficient(balance, -delta);
        },
      );
    },
  );

  /** A new pending hold (or the existing one of a client-made id), in the caller's transaction. */
  function holdInTx(input: ReturnType<typeof ReserveInputSchema.parse>, at: number) {
    const { balance, overdraftMicro } = readBalance(input.orgId, at);
    const reference = input.reference ?? null;
    const jobId = input.jobId ?? null;
    if (input.id) {
      const existing = st.reservation.get(input.id);
      if (existing) {
        const same =
          existing.org_id === input.orgId &&
          existing.amount_micro === input.amountMicro &&
          existing.reference === reference &&
          existing.job_id === jobId;
        if (!same) {
          throw new AppError('CONFLICT', `Reservation ${input.id} already exists with a different body`, {
            reservationId: input.id,
          });
        }
        return { row: existing, event: null };
      }
    }
    if (balance.availableMicro - input.amountMicro < -overdraftMicro) {
      throw insufficient(balance, input.amountMicro);
    }
    const row: ReservationRow = {
      id: input.id ?? newId(),
      org_id: input.orgId,
      amount_micro: input.amountMicro,
      captured_micro: null,
      state: 'pending',
      reference,
      job_id: jobId,
      transfer_id: null,
      expires_at: at + input.ttlMs,
      created_at: at,
      resolved_at: null,
    };
    st.insertReservation.run(row.id, row.org_id, row.amount_micro, reference, jobId, row.expires_at, at);
    st.addPending.run(orgAccount(row.org_id), row.org_id, row.amount_micro, at);
    const event: LedgerEvent = {
      type: 'ledger.reserved',
      orgId: row.org_id,
      ts: at,
      reservationId: row.id,
      amountMicro: row.amount_micro,
      expiresAt: row.expires_at,
    };
    return { row, event };
  }
  const reserveTx = sqlite.transaction(holdInTx);

  /** A hold left `pending`: it no longer counts in the org's cached pending total. */
  function unhold(row: ReservationRow, at: number): void {
    st.addPending.run(orgAccount(row.org_id), row.org_id, -row.amount_micro, at);
  }

  function pendingOrThrow(id: string, at: number): ReservationRow {
    const row = st.reservation.get(id);
    if (!row) throw new AppError('NOT_FOUND', `Reservation ${id} not found`);
    const state = row.state === 'pending' && row.expires_at <= at ? 'expired' : row.state;
    if (state !== 'pending') {
      throw new AppError('CONFLICT', `Reservation ${id} is already ${state}`, { reservationId: id, state });
    }
    return row;
  }

  const captureTx = sqlite.transaction((id: string, amountMicro: number, kind: UsageKind, at: number) => {
    const row = pendingOrThrow(id, at);
    if (amountMicro > row.amount_micro) {
      throw new AppError('VALIDATION_ERROR', `Cannot capture more than the ${row.amount_micro} held`, {
        held: row.amount_micro,
        requested: amountMicro,
      });
    }
    const events: LedgerEvent[] = [];
    let transferId: string | null = null;
    if (amountMicro > 0) {
      transferId = newId();
      const posted = postInTx(
        { id: transferId, orgId: row.org_id, kind, amountMicro, reference: row.reference, reservationId: id },
        at,
        () => {},
      );
      if (posted.event) events.push(posted.event);
    }
    const done = st.resolve.get({ id, state: 'posted', captured: amountMicro, transfer: transferId, at })!;
    unhold(done, at);
    events.push({
      type: 'ledger.captured',
      orgId: done.org_id,
      ts: at,
      reservationId: id,
      amountMicro: done.amount_micro,
      capturedMicro: amountMicro,
      transferId,
    });
    return { row: done, events };
  });

  const releaseTx = sqlite.transaction((id: string, at: number) => {
    pendingOrThrow(id, at);
    const done = st.resolve.get({ id, state: 'voided', captured: null, transfer: null, at })!;
    unhold(done, at);
    const event: LedgerEvent = {
      type: 'ledger.released',
      orgId: done.org_id,
      ts: at,
      reservationId: id,
      amountMicro: done.amount_micro,
    };
    return { row: done, event };
  });

  const sweepTx = sqlite.transaction((at: number, limit: number) => {
    const rows = st.expireDue.all({ at, limit });
    for (const r of rows) unhold(r, at);
    return rows;
  });

  return {
    transfer(input, opts = {}) {
      const parsed = parseOrThrow(TransferInputSchema, input, 'transfer');
      const r = transferTx.immediate(parsed, opts.force ?? false, opts.at ?? now());
      if (r.event) emitAll([r.event]);
      return r.transfer;
    },

    getTransfer: readTransfer,

    listTransfers(orgId, opts = {}) {
      const limit = Math.min(Math.max(opts.limit ?? 50, 1), 500);
      // `?cursor=` (empty) is the first page, as no cursor.
      const cursor = opts.cursor === undefined || opts.cursor === '' ? null : Number(opts.cursor);
      if (cursor !== null && !Number.isSafeInteger(cursor)) {
        throw new AppError('VALIDATION_ERROR', `Invalid cursor "${opts.cursor}"`);
      }
      const rows = st.transfersPage.all({ org: orgId, cursor, limit: limit + 1 });
      const page = rows.slice(0, limit);
      return {
        items: page.map((r) => toTransfer(r, st.entriesOf.all(r.id))),
        nextCursor: rows.length > limit ? String(page[page.length - 1]!.rowid) : null,
      };
    },

    balance(orgId) {
      return readBalance(orgId, now()).balance;
    },

    accountBalance(account) {
      return st.cachedBalance.get(account)?.balance_micro ?? 0;
    },

    reserve(orgId, amountMicro, ttlMs, opts = {}) {
      const input = parseOrThrow(ReserveInputSchema, { orgId, amountMicro, ttlMs, ...opts }, 'reservation');
      const r = reserveTx.immediate(input, now());
      if (r.event) emitAll([r.event]);
      return toReservation(r.row);
    },

    holdInTransaction(orgId, amountMicro, ttlMs, opts = {}) {
      if (!sqlite.inTransaction) throw new Error("Ledger.holdInTransaction needs the caller's transaction");
      const { row, event } = holdInTx({ orgId, amountMicro, ttlMs, ...opts }, now());
      if (event) emitAll([event]);
      return toReservation(row);
    },

    capture(id, amountMicro, kind) {
      const input = parseOrThrow(CaptureInputSchema, { id, amountMicro, kind }, 'capture');
      const r = captureTx.immediate(input.id, input.amountMicro, input.kind, now());
      emitAll(r.events);
      return toReservation(r.row);
    },

    release(id) {
      const r = releaseTx.immediate(id, now());
      emitAll([r.event]);
      return toReservation(r.row);
    },

    getReservation(id) {
      const row = st.reservation.get(id);
      return row && toReservation(row);
    },

    sweepExpired(limit = 1000) {
      const at = now();
      const rows = sweepTx.immediate(at, limit);
      emitAll(
        rows.map((r) => ({
          type: 'ledger.expired' as const,
          orgId: r.org_id,
          ts: at,
          reservationId: r.id,
          amountMicro: r.amount_micro,
        })),
      );
      return rows.map(toReservation);
    },

    verify: () => verifyLedger(sqlite),
  };
}
