import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestEngine, type TestEngine } from '../../test/support/test-engine.ts';
import type { EngineEvent } from '../contracts/events.ts';
import { AppError } from '../errors.ts';
import { rejectionOf } from '../../test/support/rejection.ts';

let t: TestEngine;
beforeEach(async () => {
  t = await startTestEngine();
});
afterEach(async () => {
  await t.dispose();
});

/** The AppError a promise rejects with. */
const rejection = (p: Promise<unknown>) => rejectionOf(p, AppError);

const send = (key: string, body: Record<string, unknown> = {}) =>
  t.engine.call('whatsapp:send', { instanceId: 'auto', to: '5215512345678', text: 'Hola', ...body }, key);

const count = (sql: string, ...args: unknown[]) =>
  (t.engine.db.sqlite.prepare(sql).get(...args) as { n: number }).n;

/** Everything a rejected request must not have touched. */
const footprint = () => ({
  messages: count(`SELECT count(*) AS n FROM sent_messages`),
  jobs: count(`SELECT count(*) AS n FROM jobs`),
  reservations: count(`SELECT count(*) AS n FROM reservations`),
  entries: count(`SELECT count(*) AS n FROM ledger_entries`),
  held: count(`SELECT coalesce(sum(messages_held + ai_runs_held), 0) AS n FROM usage_counters`),
});

describe('the guard', () => {
  it('queues a message within the quota for free: the job, the message row and the held count', async () => {
    const org = await t.org({ plan: 'free' });
    const accepted = await send(org.apiKey, { priority: 'high' });
    expect(accepted).toEqual({ jobId: accepted.messageId, messageId: accepted.messageId, status: 'queued' });
    const job = await t.engine.queue.getJob('whatsapp.send', accepted.jobId);
    expect(job).toMatchObject({
      state: 'waiting',
      data: { orgId: org.orgId, messageId: accepted.messageId },
    });
    const message = await t.engine.call('whatsapp:message', { id: accepted.messageId }, org.apiKey);
    expect(message).toMatchObject({ status: 'queued', free: true, reservationId: null, priority: 'high' });
    expect(count(`SELECT messages_held AS n FROM usage_counters WHERE org_id = ?`, org.orgId)).toBe(1);
  });

  it('beyond the quota holds the overage price, and answers 402 with the balance when credit runs out', async () => {
    const org = await t.org({ plan: 'free', credits: '0.1' });
    for (let i = 0; i < 50; i++) await send(org.apiKey);
    expect(t.engine.ledger.balance(org.orgId).pendingMicro).toBe(0);
    const paid = await send(org.apiKey);
    const message = await t.engine.call('whatsapp:message', { id: paid.messageId }, org.apiKey);
    expect(message.free).toBe(false);
    expect(t.engine.ledger.getReservation(message.reservationId!)).toMatchObject({
      state: 'pending',
      amountMicro: 50_000,
      jobId: paid.jobId,
    });
    await send(org.apiKey);
    const before = footprint();
    const err = await rejection(send(org.apiKey));
    expect(err.code).toBe('INSUFFICIENT_CREDITS');
    expect(err.details).toMatchObject({ balance: 0, required: 50_000 });
    expect(footprint()).toEqual(before);
  });

  it('settles: success captures the hold and counts the message; failure releases it', async () => {
    const org = await t.org({ plan: 'free', credits: '1' });
    for (let i = 0; i < 50; i++) await send(org.apiKey);
    const [a, b] = [await send(org.apiKey), await send(org.apiKey)];
    const admission = (id: string) => {
      const row = t.engine.db.sqlite
        .prepare(`SELECT reservation_id, cycle, free FROM sent_messages WHERE id = ?`)
        .get(id) as { reservation_id: string; cycle: string; free: number };
      return {
        orgId: org.orgId,
        unit: 'message' as const,
        cycle: row.cycle,
        free: row.free === 1,
        reservationId: row.reservation_id,
      };
    };
    t.engine.charges.settle(admission(a.messageId), 'success');
    t.engine.charges.settle(admission(b.messageId), 'failure');
    expect(t.engine.ledger.balance(org.orgId)).toMatchObject({ postedMicro: 950_000, pendingMicro: 0 });
    expect(t.engine.quotas.usage(org.orgId).messages).toBe(1);
    expect(count(`SELECT messages_held AS n FROM usage_counters WHERE org_id = ?`, org.orgId)).toBe(50);
    expect(t.engine.ledger.verify().ok).toBe(true);
  });

  it('is idempotent: same key and body -> the same job and hold, even concurrently; another body -> 409', async () => {
    const org = await t.org({ plan: 'free', credits: '5' });
    for (let i = 0; i < 50; i++) await send(org.apiKey);
    const key = randomUUID();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => send(org.apiKey, { idempotencyKey: key })),
    );
    expect(new Set(results.map((r) => r.messageId)).size).toBe(1);
    // Defaults count as given: an explicit "normal" priority is the same body.
    expect(await send(org.apiKey, { idempotencyKey: key, priority: 'normal' })).toEqual(results[0]);
    // A UUID is one key in any letter case: the client repeating it upper-cased repeats the request.
    expect(await send(org.apiKey, { idempotencyKey: key.toUpperCase() })).toEqual(results[0]);
    expect(count(`SELECT count(*) AS n FROM reservations WHERE job_id = ?`, results[0]!.jobId)).toBe(1);
    expect(t.engine.ledger.balance(org.orgId).pendingMicro).toBe(50_000);
    const err = await rejection(send(org.apiKey, { idempotencyKey: key, text: 'otro texto' }));
    expect(err.code).toBe('CONFLICT');
    // Keys are per org: another org may use the same key.
    const other = await t.org({ plan: 'starter' });
    expect((await send(other.apiKey, { idempotencyKey: key })).messageId).not.toBe(results[0]!.messageId);
  });

  it('validates first (400 with the issues), then authenticates (401), and writes nothing either way', async () => {
    const org = await t.org();
    const before = footprint();
    const invalid = await rejection(send('not-a-key', { to: '12ab' }));
    expect(invalid.code).toBe('VALIDATION_ERROR');
    expect(invalid.details).toMatchObject({ issues: [expect.objectContaining({ path: ['to'] })] });
    for (const bad of [undefined, 'ad_AAAAAAAA_' + 'x'.repeat(40), 'ads_forged']) {
      expect((await rejection(send(bad as string))).code).toBe('UNAUTHORIZED');
    }
    const keyId = t.engine.apiKeys.list(org.orgId)[0]!.id;
    t.engine.apiKeys.revoke(keyId);
    expect((await rejection(send(org.apiKey))).code).toBe('UNAUTHORIZED');
    expect(footprint()).toEqual(before);
  });

  it('accepts a local session of the desktop UI instead of a key', async () => {
    const org = await t.org({ plan: 'starter' });
    const session = t.engine.sessions.issue(org.orgId);
    expect((await send(session)).status).toBe('queued');
    t.engine.sessions.revoke(session);
    expect((await rejection(send(session))).code).toBe('UNAUTHORIZED');
  });

  it('enforces plan limits with 403 PLAN_LIMIT and the limit: instances, white label', async () => {
    const free = await t.org({ plan: 'free' });
    const err = await rejection(
      t.engine.call('whatsapp:addInstance', { name: 'second', evolutionInstance: 'e2' }, free.apiKey),
    );
    expect(err.code).toBe('PLAN_LIMIT');
    expect(err.details).toEqual({ limit: 1, used: 1 });
    const branding = { name: 'Agencia Sol', accentColor: '#ff8800' };
    expect((await rejection(t.engine.call('branding:set', branding, free.apiKey))).code).toBe('PLAN_LIMIT');
    const partner = await t.org({ plan: 'partner', instances: 10 });
    expect(await t.engine.call('branding:set', branding, partner.apiKey)).toEqual({
      ...branding,
      logo: null,
    });
    expect(await t.engine.call('branding:get', {}, partner.apiKey)).toEqual({
      branding: { ...branding, logo: null },
      allowed: true,
    });
    const eleventh = await rejection(
      t.engine.call('whatsapp:addInstance', { name: 'n11', evolutionInstance: 'e11' }, partner.apiKey),
    );
    expect(eleventh.details).toEqual({ limit: 10, used: 10 });
  });

  it('answers 404 for a pinned instance of another org, and when the org has no instance at all', async () => {
    const a = await t.org({ plan: 'starter' });
    const b = await t.org({ plan: 'starter', instances: 0 });
    expect((await rejection(send(b.apiKey, { instanceId: a.instanceIds[0] }))).code).toBe('NOT_FOUND');
    expect((await rejection(send(b.apiKey))).code).toBe('NOT_FOUND');
    expect((await send(a.apiKey, { instanceId: a.instanceIds[0] })).status).toBe('queued');
  });

  it('refuses an Evolution instance already registered, by another org or under another name (409)', async () => {
    const a = await t.org({ plan: 'partner', instances: 0 });
    const b = await t.org({ plan: 'partner', instances: 0 });
    const add = (key: string, name: string) =>
      t.engine.call('whatsapp:addInstance', { name, evolutionInstance: 'ventas-mx' }, key);
    expect((await add(a.apiKey, 'ventas')).evolutionInstance).toBe('ventas-mx');
    for (const [key, name] of [
      [b.apiKey, 'ventas'],
      [a.apiKey, 'ventas 2'],
    ] as const) {
      const err = await rejection(add(key, name));
      expect(err).toMatchObject({ code: 'CONFLICT', details: { evolutionInstance: 'ventas-mx' } });
      expect(err.message).not.toContain(a.orgId); // nothing about the org that has it
    }
    const rows = t.engine.db.sqlite.prepare(`SELECT org_id FROM whatsapp_instances`).pluck().all();
    expect(rows).toEqual([a.orgId]);
  });

  it("rate limits per org by its plan's requests per minute; replays of an idempotent request are free", async () => {
    const org = await t.org({ plan: 'starter' });
    const other = await t.org({ plan: 'starter' });
    t.engine.db.sqlite.prepare(`UPDATE plans SET rate_limit_per_min = 3 WHERE id = 'starter'`).run();
    const key = randomUUID();
    await send(org.apiKey, { idempotencyKey: key });
    await send(org.apiKey);
    await send(org.apiKey);
    await send(org.apiKey, { idempotencyKey: key });
    const err = await rejection(send(org.apiKey));
    expect(err.code).toBe('RATE_LIMITED');
    expect(err.details).toMatchObject({ limit: 3, retryAfterS: expect.any(Number) });
    expect((err.details as { retryAfterS: number }).retryAfterS).toBeGreaterThanOrEqual(1);
    expect((await send(other.apiKey)).status).toBe('queued');
  });

  it('checks in the documented order: plan limit before rate limit, rate limit before credit', async () => {
    const org = await t.org({ plan: 'free' });
    t.engine.db.sqlite.prepare(`UPDATE plans SET rate_limit_per_min = 1 WHERE id = 'free'`).run();
    // The instance-count limit answers even when the rate limit is used up.
    await send(org.apiKey);
    const planFirst = await rejection(
      t.engine.call('whatsapp:addInstance', { name: 'x', evolutionInstance: 'x' }, org.apiKey),
    );
    expect(planFirst.code).toBe('PLAN_LIMIT');
    // Out of quota and credit *and* of rate: the rate limit answers first.
    t.engine.db.sqlite
      .prepare(`UPDATE usage_counters SET messages_held = 50 WHERE org_id = ?`)
      .run(org.orgId);
    expect((await rejection(send(org.apiKey))).code).toBe('RATE_LIMITED');
  });

  it('a command the credit guard refuses has counted against the rate limit', async () => {
    const org = await t.org({ plan: 'free' }); // no credit
    t.engine.db.sqlite.prepare(`UPDATE plans SET rate_limit_per_min = 2 WHERE id = 'free'`).run();
    t.engine.db.sqlite
      .prepare(`INSERT INTO usage_counters (org_id, cycle, messages_held, updated_at) VALUES (?, ?, 50, 0)`)
      .run(org.orgId, t.engine.quotas.usage(org.orgId).cycle);
    expect((await rejection(send(org.apiKey))).code).toBe('INSUFFICIENT_CREDITS');
    expect((await rejection(send(org.apiKey))).code).toBe('INSUFFICIENT_CREDITS');
    expect((await rejection(send(org.apiKey))).code).toBe('RATE_LIMITED');
  });

  it('agent runs: the Free plan includes one per cycle, the next costs its price; paid plans are unlimited', async () => {
    const free = await t.org({ plan: 'free', credits: '1.5' });
    const run = (key: string) => t.engine.call('agents:run', { prompt: 'Resume las ventas' }, key);
    const first = await run(free.apiKey);
    expect(await t.engine.call('agents:get', { id: first.runId }, free.apiKey)).toMatchObject({
      status: 'queued',
      reservationId: null,
      maxSteps: 10,
      timeoutS: 600,
    });
    const second = await run(free.apiKey);
    const held = (await t.engine.call('agents:get', { id: second.runId }, free.apiKey)).reservationId!;
    expect(t.engine.ledger.getReservation(held)?.amountMicro).toBe(1_000_000);
    expect((await rejection(run(free.apiKey))).code).toBe('INSUFFICIENT_CREDITS');
    expect(await t.engine.queue.getJob('agent.run', second.runId)).toMatchObject({ attempts: 1 });
    const starter = await t.org({ plan: 'starter' });
    for (let i = 0; i < 5; i++) await run(starter.apiKey);
    expect(t.engine.ledger.balance(starter.orgId).pendingMicro).toBe(0);
  });

  it("reads are scoped to the caller's org", async () => {
    const a = await t.org({ plan: 'starter' });
    const b = await t.org({ plan: 'starter' });
    const sent = await send(a.apiKey);
    expect((await rejection(t.engine.call('whatsapp:message', { id: sent.messageId }, b.apiKey))).code).toBe(
      'NOT_FOUND',
    );
    expect((await t.engine.call('whatsapp:instances', {}, b.apiKey)).items.map((i) => i.id)).toEqual(
      b.instanceIds,
    );
    expect(await t.engine.call('billing:balance', {}, b.apiKey)).toMatchObject({
      orgId: b.orgId,
      quota: { plan: { id: 'starter' }, messages: { used: 0, included: 2000 } },
    });
  });

  it('pages transactions and alerts with cursors, and rejects forged cursors', async () => {
    const org = await t.org({ plan: 'starter', credits: '1' });
    for (let i = 0; i < 3; i++) {
      t.engine.ledger.transfer({ id: randomUUID(), orgId: org.orgId, kind: 'TOPUP', amountMicro: 1_000_000 });
    }
    const p1 = await t.engine.call('billing:transactions', { limit: '3' }, org.apiKey);
    expect(p1.items).toHaveLength(3);
    const p2 = await t.engine.call(
      'billing:transactions',
      { cursor: p1.nextCursor!, limit: '3' },
      org.apiKey,
    );
    expect(p2.items).toHaveLength(1);
    expect(p2.nextCursor).toBeNull();
    const insert = t.engine.db.sqlite.prepare(
      `INSERT INTO alerts (id, org_id, kind, threshold, cycle, message, created_at) VALUES (?, ?, 'quota', ?, '2026-11', ?, ?)`,
    );
    [70, 85, 95].forEach((th, i) => insert.run(`al-${th}`, org.orgId, th, `${th} %`, 1000 + i));
    const a1 = await t.engine.call('compliance:alerts', { limit: '2' }, org.apiKey);
    expect(a1.items.map((a) => a.threshold)).toEqual([95, 85]);
    const a2 = await t.engine.call('compliance:alerts', { cursor: a1.nextCursor!, limit: '2' }, org.apiKey);
    expect(a2.items.map((a) => a.threshold)).toEqual([70]);
    const forged = await rejection(t.engine.call('compliance:alerts', { cursor: 'bm9wZQ' }, org.apiKey));
    expect(forged.code).toBe('VALIDATION_ERROR');
    // `?cursor=` (empty) is the first page of every list.
    const first = { cursor: '', limit: '2' };
    expect(await t.engine.call('compliance:alerts', first, org.apiKey)).toEqual(a1);
    expect((await t.engine.call('billing:transactions', first, org.apiKey)).items).toHaveLength(2);
    expect((await t.engine.call('agents:list', first, org.apiKey)).items).toEqual([]);
    expect((await t.engine.call('dlq:list', first, org.apiKey)).items).toEqual([]);
    // `?limit=` (empty) is the default page size, not a limit of 0; text that is no number is refused.
    const all = await t.engine.call('compliance:alerts', {}, org.apiKey);
    expect(await t.engine.call('compliance:alerts', { limit: '' }, org.apiKey)).toEqual(all);
    for (const limit of [' ', '0x2', '2e0']) {
      const bad = await rejection(t.engine.call('compliance:alerts', { limit }, org.apiKey));
      expect(bad.code, limit).toBe('VALIDATION_ERROR');
    }
    // Only the operations' own names are operations.
    for (const name of ['constructor', 'toString', '__proto__']) {
      const err = await rejection(t.engine.call(name as 'billing:balance', {}, org.apiKey));
      expect(err.code).toBe('NOT_FOUND');
    }
  });

  it('dead letters: an org lists, retries and resolves its own only', async () => {
    const a = await t.org({ plan: 'starter' });
    const b = await t.org({ plan: 'starter' });
    const sent = await send(a.apiKey);
    t.engine.queue.process('whatsapp.send', async () => {
      throw new (await import('../queue/errors.ts')).UnrecoverableError('number not on WhatsApp');
    });
    const dead = await new Promise<EngineEvent>((resolve) => {
      const off = t.engine.events.on((e) => {
        if (e.type === 'job.dead' && e.jobId === sent.jobId) {
          off();
          resolve(e);
        }
      });
    });
    const id = (dead as { deadLetterId: string }).deadLetterId;
    expect((await t.engine.call('dlq:list', {}, a.apiKey)).items.map((d) => d.id)).toEqual([id]);
    expect((await t.engine.call('dlq:list', {}, b.apiKey)).items).toEqual([]);
    expect((await rejection(t.engine.call('dlq:resolve', { id }, b.apiKey))).code).toBe('NOT_FOUND');
    expect((await t.engine.call('dlq:resolve', { id }, a.apiKey)).resolved).toBe(true);
    expect((await t.engine.call('dlq:list', { resolved: 'false' }, a.apiKey)).items).toEqual([]);
  });

  it('ledger events of a command reach the event stream only once it is durable (journaled or committed)', async () => {
    const org = await t.org({ plan: 'free', credits: '0.1' });
    t.engine.db.sqlite.prepare(`UPDATE plans SET messages_included = 0 WHERE id = 'free'`).run();
    const seen: EngineEvent[] = [];
    t.engine.events.on((e) => seen.push(e));
    const sent = await send(org.apiKey);
    expect(seen.map((e) => e.type)).toEqual(['ledger.reserved', 'job.queued']);
    // A command that fails after reserving rolls back, and its held events are dropped with it.
    seen.length = 0;
    t.engine.db.sqlite.exec(
      `CREATE TRIGGER fail_insert BEFORE INSERT ON sent_messages BEGIN SELECT RAISE(ABORT, 'disk trouble'); END`,
    );
    await expect(send(org.apiKey)).rejects.toThrow('disk trouble');
    expect(seen).toEqual([]);
    expect(t.engine.ledger.balance(org.orgId).pendingMicro).toBe(50_000);
    expect(sent.status).toBe('queued');
  });
});

describe('the guard on the BullMQ backend', () => {
  it('a twin sent while the first is in flight gets its result: no 429, no rate-limit point spent on it', async () => {
    const r = await startTestEngine({ REDIS_URL: inject('redisUrl') });
    try {
      const org = await r.org({ plan: 'starter' });
      r.engine.db.sqlite.prepare(`UPDATE plans SET rate_limit_per_min = 2 WHERE id = 'starter'`).run();
      const input = { instanceId: 'auto', to: '5215512345678', text: 'Hola', idempotencyKey: randomUUID() };
      const twins = await Promise.all([1, 2, 3].map(() => r.engine.call('whatsapp:send', input, org.apiKey)));
      expect(new Set(twins.map((t) => t.jobId)).size).toBe(1);
      // One point spent for the three: one other send fits in the minute, the next does not.
      const other = () =>
        r.engine.call('whatsapp:send', { ...input, idempotencyKey: randomUUID() }, org.apiKey);
      await expect(other()).resolves.toMatchObject({ status: 'queued' });
      await expect(other()).rejects.toMatchObject({ code: 'RATE_LIMITED' });
      // A repeat is answered from its record, whatever the rate limit says now.
      await expect(r.engine.call('whatsapp:send', input, org.apiKey)).resolves.toEqual(twins[0]);
    } finally {
      await r.dispose();
    }
  });

  it('hands the job to Redis with the message id as job id and leaves the outbox empty', async () => {
    const r = await startTestEngine({ REDIS_URL: inject('redisUrl') });
    try {
      const org = await r.org({ plan: 'starter' });
      const sent = await r.engine.call(
        'whatsapp:send',
        { instanceId: 'auto', to: '5215512345678', text: 'Hola' },
        org.apiKey,
      );
      expect(r.engine.queue.backend).toBe('bullmq');
      expect(await r.engine.queue.getJob('whatsapp.send', sent.jobId)).toMatchObject({
        id: sent.messageId,
        data: { orgId: org.orgId, messageId: sent.messageId },
      });
      expect(
        (r.engine.db.sqlite.prepare(`SELECT count(*) AS n FROM job_outbox`).get() as { n: number }).n,
      ).toBe(0);
    } finally {
      await r.dispose();
    }
  });
});
