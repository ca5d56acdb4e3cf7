import type { z } from 'zod';
import type { EngineEvent } from '../contracts/events.ts';
import type { Sqlite } from '../db/connection.ts';
import type { WriteJournal } from '../db/journal.ts';
import { parseOrThrow } from '../errors.ts';
import type { CommitEmitter } from '../events.ts';
import type { Quotas } from '../ledger/quota.ts';
import type { Authenticate, Principal } from './auth.ts';
import { createGroupCommit } from './group-commit.ts';
import { bodyHash, type IdempotencyStore } from './idempotency.ts';
import type { JobOutbox, JobSpec } from './outbox.ts';
import type { RateLimiter } from './rate-limit.ts';

/** A request that asks the engine to do or change something. */
export interface Command<S extends z.ZodType, O> {
  readonly name: string;
  readonly schema: S;
  /**
   * Plan limits (PLAN_LIMIT, NOT_FOUND): read-only; run before the rate limit, in the transaction (and
   * before it too when the rate limit has to be awaited).
   */
  check?(principal: Principal, input: z.output<S>): void;
  /**
   * Inside the guard's transaction: charge (credit guard + reserve through `Charges`), write the rows,
   * and name the job to queue. Throwing rolls all of it back.
   */
  execute(principal: Principal, input: z.output<S>): { output: O; job?: JobSpec };
}

/** A request that only reads: validated and authenticated, never charged or rate limited. */
export interface Query<S extends z.ZodType, O> {
  readonly name: string;
  readonly schema: S;
  run(principal: Principal, input: z.output<S>): O | Promise<O>;
}

export interface GuardDeps {
  sqlite: Sqlite;
  authenticate: Authenticate;
  idempotency: IdempotencyStore;
  rateLimiter: RateLimiter;
  quotas: Quotas;
  outbox: JobOutbox;
  /** Ledger events emitted inside a command are held until it is durable, and dropped if it fails. */
  events: CommitEmitter<EngineEvent>;
  /** Most commands committed in one transaction (group commit); default 64, 256 with a journal. */
  maxBatch?: number;
  /** Commands are acknowledged once journaled (db/journal.ts), before their batch commits. */
  journal?: WriteJournal;
  onCommitError?: (error: unknown, retryInMs: number) => void;
}

export interface Guard {
  command<S extends z.ZodType, O>(
    cmd: Command<S, O>,
    raw: unknown,
    credential: string | undefined,
  ): Promise<O>;
  query<S extends z.ZodType, O>(q: Query<S, O>, raw: unknown, credential: string | undefined): Promise<O>;
}

const withoutKey = (input: unknown) => {
  const { idempotencyKey: _key, ...rest } = input as { idempotencyKey?: unknown };
  return rest;
};

/**
 * The one pipeline every command passes, from IPC or HTTP, in this order: validate -> authenticate ->
 * idempotency -> plan limits -> rate limit -> credit guard -> reserve -> enqueue. The last three and
 * the idempotency record are one unit of a SQLite transaction, so a request either leaves a queued
 * job with its hold and its key, or nothing at all. Commands share the transaction (group-commit.ts);
 * each answers only once it is durable: journaled (db/journal.ts), or without a journal, once that
 * transaction committed. Refusals are decided before a command writes (a unit that fails after
 * writing costs the journal a replay of its batch).
 */
export function createGuard(deps: GuardDeps): Guard {
  const { idempotency } = deps;
  const group = createGroupCommit(deps);
  /**
   * With an awaited rate limit, requests of one org with one idempotency key run one after another:
   * a twin sent while the first is still in flight finds its stored result before the rate limit,
   * instead of being charged a point (or refused 429) for a repeat.
   */
  const keyed = new Map<string, Promise<unknown>>();
  function oneAtATime<T>(name: string, run: () => Promise<T>): Promise<T> {
    const before = keyed.get(name);
    const result = before ? before.then(run, run) : run();
    const settled = result.then(
      () => {},
      () => {},
    );
    keyed.set(name, settled);
    void settled.then(() => {
      if (keyed.get(name) === settled) keyed.delete(name);
    });
    return result;
  }

  /**
   * Inside the (group) transaction, as the command's own unit. `limit` is the rate limit when it
   * is decided at once; otherwise it was awaited before, and the checks before it are made again here
   * under the write lock: a twin request may have committed meanwhile, or earlier in the same batch.
   */
  function commitOne<S extends z.ZodType, O>(
    cmd: Command<S, O>,
    principal: Principal,
    input: z.output<S>,
    key: string | undefined,
    hash: string,
    limit?: () => void,
  ): { output: O; after?: () => Promise<void> } {
    if (key !== undefined) {
      const stored = idempotency.lookup(principal.orgId, key, hash);
      if (stored !== undefined) return { output: stored as O };
    }
    cmd.check?.(principal, input);
    limit?.();
    const { output, job } = cmd.execute(principal, input);
    const after = job && deps.outbox.stage(job);
    if (key !== undefined) idempotency.record(principal.orgId, key, cmd.name, hash, output);
    return { output, after };
  }

  /** Commits the command in the group's batch, then hands its job to the queue (outbox.ts). */
  async function commitAndQueue<O>(unit: () => { output: O; after?: () => Promise<void> }): Promise<O> {
    const done = await group.run(unit);
    await done.after?.();
    return done.output;
  }

  return {
    async command<S extends z.ZodType, O>(cmd: Command<S, O>, raw: unknown, credential: string | undefined) {
      const input = parseOrThrow(cmd.schema, raw, cmd.name);
      const principal = deps.authenticate(credential);
      const key = (input as { idempotencyKey?: string }).idempotencyKey;
      const hash = key === undefined ? '' : bodyHash(cmd.name, withoutKey(input));
      const { orgId } = principal;
      const { consumeNow } = deps.rateLimiter;
      if (consumeNow) {
        // Every step in one pass, inside the transaction: one read of the key and of the plan limits.
        const limit = () => consumeNow(orgId, deps.quotas.rateLimitPerMin(orgId));
        return commitAndQueue(() => commitOne(cmd, principal, input, key, hash, limit));
      }
      const awaited = async () => {
        if (key !== undefined) {
          const stored = idempotency.lookup(orgId, key, hash);
          if (stored !== undefined) return stored as O;
        }
        cmd.check?.(principal, input);
        await deps.rateLimiter.consume(orgId, deps.quotas.rateLimitPerMin(orgId));
        return commitAndQueue(() => commitOne(cmd, principal, input, key, hash));
      };
      return key === undefined ? awaited() : oneAtATime(`${orgId}\n${key}`, awaited);
    },
    async query(q, raw, credential) {
      const input = parseOrThrow(q.schema, raw, q.name);
      return q.run(deps.authenticate(credential), input);
    },
  };
}
