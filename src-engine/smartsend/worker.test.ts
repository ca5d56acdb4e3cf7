import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  startEvolutionSim,
  startWebhookListener,
  type EvolutionSim,
  type WebhookListener,
} from '../../test/sim/evolution/index.ts';
import { until } from '../../test/support/process.ts';
import { manualClock } from '../../test/support/temp-database.ts';
import { startTestEngine, type TestEngine, type TestOrg } from '../../test/support/test-engine.ts';
import { createCompliance } from '../compliance/alerts.ts';
import { SmartSendSettingsSchema } from '../contracts/smartsend.ts';
import { createCommitEmitter } from '../events.ts';
import { createEvolutionClient, EvolutionError, parseWebhook } from '../gateways/evolution/index.ts';
import { createLogger } from '../logger.ts';
import { RetryLaterError, UnrecoverableError, errorCodeOf } from '../queue/errors.ts';
import type { ActiveJob } from '../queue/port.ts';
import { createMessageStore, EARLY_ACK_TTL_MS } from './messages.ts';
import { createSmartSend } from './planner.ts';
import { seededRandom } from './random.ts';
import { createSqliteState } from './sqlite-state.ts';
import { createWebhookHandler, type WebhookEvent } from './webhook-handler.ts';
import { CONFIRM_WINDOW_MS, createSendHandler, type SendJob } from './worker.ts';

// A fixed 1 s gap and a 5 ms "composing": slots are exact.
const settings = SmartSendSettingsSchema.parse({
  jitter: { minMs: 1000, maxMs: 1000 },
  presence: { msPerChar: 0, minMs: 5, maxMs: 5 },
});
const log = createLogger('engine', { level: 'silent' });

let te: TestEngine;
let sim: EvolutionSim;
let hooks: WebhookListener;
let org: TestOrg;
let clock: ReturnType<typeof manualClock>;
let handler: ReturnType<typeof createSendHandler>;
let onWebhook: (event: WebhookEvent) => Promise<void>;

function build(timeoutMs = 5_000) {
  const { sqlite } = te.engine.db;
  const smartSend = createSmartSend({
    state: createSqliteState({ sqlite }),
    settings,
    random: seededRandom(3),
    now: clock.now,
  });
  const messages = createMessageStore({
    sqlite,
    charges: te.engine.charges,
    events: createCommitEmitter(te.engine.events, () => sqlite.inTransaction),
    now: clock.now,
  });
  const compliance = createCompliance({
    sqlite,
    quotas: te.engine.quotas,
    ledger: te.engine.ledger,
    lowCreditMicro: 0,
  });
  const evolution = createEvolutionClient({ baseUrl: sim.url, apiKey: sim.apiKey, timeoutMs });
  handler = createSendHandler({ sqlite, messages, smartSend, evolution, log, now: clock.now });
  onWebhook = createWebhookHandler({
    sqlite,
    messages,
    smartSend,
    compliance,
    queue: te.engine.queue,
    log,
    now: clock.now,
  });
}

beforeEach(async () => {
  te = await startTestEngine();
  // Every message costs credit, so holds and captures show.
  te.engine.db.sqlite.prepare(`UPDATE plans SET messages_included = 0`).run();
  org = await te.org({ plan: 'free', credits: '1', instances: 1 });
  hooks = await startWebhookListener();
  sim = await startEvolutionSim({ instances: ['evo-0'], webhook: { url: hooks.url } });
  clock = manualClock(Date.now());
  build();
});
afterEach(async () => {
  await sim.close();
  await hooks.close();
  await te.dispose();
});

const job = (id: string, messageId: string, attempt = 1, attempts = 3): ActiveJob<SendJob> => ({
  id,
  queue: 'whatsapp.send',
  data: { orgId: org.orgId, messageId },
  attempt,
  attempts,
  signal: new AbortController().signal,
  progress: async () => {},
});
const sendRequests = () => sim.requests.filter((r) => r.path.startsWith('/message/sendText/')).length;
const send = async (to: string, text = 'Hola') =>
  (await te.engine.call('whatsapp:send', { instanceId: 'auto', to, text }, org.apiKey)).messageId;
const row = (id: string) =>
  te.engine.db.sqlite
    .prepare(
      `SELECT m.status, m.job_id, m.error, m.instance_id, r.state AS hold FROM sent_messages m
       LEFT JOIN reservations r ON r.id = m.reservation_id WHERE m.id = ?`,
    )
    .get(id) as { status: string; job_id: string; error: string | null; instance_id: string; hold: string };

describe('whatsapp.send worker', () => {
  it('sends each message at its slot with the composing delay, and captures its charge', async () => {
    const [m1, m2] = [await send('5215500000001'), await send('5215500000002')];
    await expect(handler(job(m1, m1))).resolves.toMatchObject({
      status: 'sent',
      instanceId: org.instanceIds[0],
    });
    const early = await handler(job(m2, m2)).catch((e: unknown) => e);
    expect(early).toBeInstanceOf(RetryLaterError);
    // The next slot is the 1 s gap after the first send; composing starts 5 ms before it.
    expect((early as RetryLaterError).delayMs).toBe(1000);
    expect(row(m2)).toMatchObject({ status: 'queued', hold: 'pending' });

    clock.advance(1000);
    await handler(job(m2, m2));
    expect(sim.sends.map((s) => [s.number, s.delay])).toEqual([
      ['5215500000001', 5],
      ['5215500000002', 5],
    ]);
    expect(row(m1)).toMatchObject({ status: 'sent', hold: 'posted', instance_id: org.instanceIds[0] });
    expect(row(m2)).toMatchObject({ status: 'sent', hold: 'posted' });
    // A job run again for a sent message does nothing.
    await expect(handler(job(m1, m1, 2))).resolves.toMatchObject({ already: true });
    expect(sim.sends).toHaveLength(2);
  });

  it('puts a message back after a retryable failure and fails it, releasing the hold, on the last attempt', async () => {
    sim.scriptSends('evo-0', { type: 'server' }, 2);
    const m = await send('5215500000003');
    await expect(handler(job(m, m, 1))).rejects.toBeInstanceOf(EvolutionError);
    expect(row(m)).toMatchObject({ status: 'queued', hold: 'pending' });
    clock.advance(2000);
    const gaveUp = await handler(job(m, m, 3)).catch((e: unknown) => e);
    expect(gaveUp).toBeInstanceOf(UnrecoverableError);
    expect(errorCodeOf(gaveUp)).toBe('evolution.server'); // the dead letter's code
    expect(row(m)).toMatchObject({ status: 'failed', hold: 'voided' });
    expect(row(m).error).toMatch(/HTTP 500/);

    // Sent again from the dead letters (a new job): charged afresh, sent.
    clock.advance(2000);
    await expect(handler(job('retry-1', m))).resolves.toMatchObject({ status: 'sent' });
    expect(row(m)).toMatchObject({ status: 'sent', hold: 'posted', job_id: 'retry-1', error: null });
  });

  it("failures of the Evolution server say nothing about the number; WhatsApp's rate-overlimit throttles it", async () => {
    const health = () => createSqliteState({ sqlite: te.engine.db.sqlite }).instances(org.orgId)[0]!;
    // More than the health window's minimum sample, all failed: as a ratio that would throttle.
    sim.scriptSends('evo-0', { type: 'server', status: 503 }, 12);
    for (let i = 0; i < 12; i++) {
      const m = await send(`52155000011${String(i).padStart(2, '0')}`);
      await expect(handler(job(m, m, 1))).rejects.toMatchObject({ kind: 'server' });
      clock.advance(1000);
    }
    expect(sim.sends).toHaveLength(0);
    expect(health()).toMatchObject({ health: 'WARMUP', outcomes: '' });
    sim.scriptSends('evo-0', { type: 'rate-overlimit' });
    const m = await send('5215500001199');
    await expect(handler(job(m, m, 1))).rejects.toMatchObject({ kind: 'rate_limited' });
    expect(health().health).toBe('THROTTLED');
  });

  it("a send Evolution refused gives its slot back to the number's caps; a server failure keeps it counted", async () => {
    const dayCount = () =>
      createSqliteState({ sqlite: te.engine.db.sqlite }).instances(org.orgId)[0]!.dayCount;
    sim.addNotOnWhatsApp('5215500000009');
    const m1 = await send('5215500000009');
    const refused = await handler(job(m1, m1)).catch((e: unknown) => e);
    expect(errorCodeOf(refused)).toBe('evolution.not_on_whatsapp');
    expect(dayCount()).toBe(0);
    clock.advance(2000);
    sim.scriptSends('evo-0', { type: 'server' });
    const m2 = await send('5215500000010');
    await expect(handler(job(m2, m2))).rejects.toMatchObject({ kind: 'server' });
    expect(dayCount()).toBe(1); // a 5xx may hide a send that happened: it stays counted
  });

  it('dead-letters a failed message sent again without credit to cover it', async () => {
    sim.addNotOnWhatsApp('5215500000004');
    const m = await send('5215500000004');
    const err = await handler(job(m, m)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnrecoverableError);
    expect((err as Error).message).toContain('has no WhatsApp account');
    const { availableMicro } = te.engine.ledger.balance(org.orgId);
    te.engine.ledger.transfer({
      id: randomUUID(),
      orgId: org.orgId,
      kind: 'ADJUSTMENT',
      amountMicro: -availableMicro,
      reference: 'test',
    });
    await expect(handler(job('retry-2', m))).rejects.toThrow(UnrecoverableError);
    expect(row(m)).toMatchObject({ status: 'failed', hold: 'voided' });
  });

  it('a message whose hold expired while it waited holds its price again, or is not sent once the credit is gone', async () => {
    const [m1, m2] = [await send('5215500000011'), await send('5215500000012')];
    const { sqlite } = te.engine.db;
    // Both waited past their holds (a week asleep): the sweeper gave the credit back.
    sqlite.prepare(`UPDATE reservations SET expires_at = ? WHERE org_id = ?`).run(Date.now() - 1, org.orgId);
    expect(te.engine.ledger.sweepExpired()).toHaveLength(2);
    expect(row(m1).hold).toBe('expired');

    // With credit there: a fresh hold, captured when sent. Nothing is charged below zero.
    await expect(handler(job(m1, m1))).resolves.toMatchObject({ status: 'sent' });
    expect(row(m1)).toMatchObject({ status: 'sent', hold: 'posted' });

    // The rest of the credit was spent meanwhile: m2 is failed with the reason, never sent.
    const { availableMicro } = te.engine.ledger.balance(org.orgId);
    te.engine.ledger.reserve(org.orgId, availableMicro, 3_600_000, { reference: 'elsewhere' });
    clock.advance(60_000);
    const err = await handler(job(m2, m2)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnrecoverableError);
    expect(row(m2)).toMatchObject({ status: 'failed', hold: 'expired' });
    expect(row(m2).error).toMatch(/insufficient|credit/i);
    expect(sim.sends.map((x) => x.text)).toHaveLength(1);
    expect(te.engine.ledger.balance(org.orgId).availableMicro).toBe(0);
    expect(te.engine.ledger.verify().ok).toBe(true);
  });

  it('a message WhatsApp failed after it went out is not sent again by another of its jobs', async () => {
    sim.scriptSends('evo-0', { type: 'error-ack' });
    const m = await send('5215500000002', 'Con acuse de error');
    await expect(handler(job(m, m))).resolves.toMatchObject({ status: 'sent' });
    for (const { body } of await hooks.waitFor(2)) {
      const event = parseWebhook(body);
      if (event.kind !== 'invalid') await onWebhook(event);
    }
    expect(row(m)).toMatchObject({ status: 'failed', hold: 'posted' });
    const charged = te.engine.ledger.balance(org.orgId).postedMicro;
    // The message's own jobs (a retry of its first, a re-route's) find it settled.
    await expect(handler(job(m, m, 2))).resolves.toMatchObject({ status: 'failed', already: true });
    await expect(handler(job(`${m}.moved-1`, m))).resolves.toMatchObject({ already: true });
    expect(sendRequests()).toBe(1);
    expect(te.engine.ledger.balance(org.orgId).postedMicro).toBe(charged);
  });

  /** The webhooks so far, parsed; `kind` keeps only those (in the order they came). */
  const webhooks = async (count: number, kind?: WebhookEvent['kind']) =>
    (await hooks.waitFor(count))
      .map(({ body }) => parseWebhook(body))
      .filter((e): e is WebhookEvent => e.kind !== 'invalid' && (kind === undefined || e.kind === kind));
  const earlyAcks = () =>
    te.engine.db.sqlite.prepare(`SELECT count(*) AS n FROM early_acks`).get() as { n: number };

  it("acks that come before the send's answer are applied once the answer names the message", async () => {
    const statuses: string[] = [];
    te.engine.events.on((e) => {
      if (e.type === 'message.status') statuses.push(e.status);
    });
    sim.scriptSends('evo-0', { type: 'slow-answer', ms: 400 });
    const m = await send('5215500000021', 'Acuse antes que la respuesta');
    const sending = handler(job(m, m));
    // SEND_MESSAGE, SERVER_ACK, DELIVERY_ACK: the delivery ack reaches us while the answer is on its way.
    for (const ack of await webhooks(3, 'message.status')) await onWebhook(ack);
    expect(row(m).status).toBe('sending');
    expect(earlyAcks().n).toBe(1);

    await expect(sending).resolves.toMatchObject({ status: 'sent' });
    expect(row(m)).toMatchObject({ status: 'delivered', hold: 'posted' });
    expect(statuses).toEqual(['sent', 'delivered']);
    expect(earlyAcks().n).toBe(0);
  });

  it('an ERROR ack before the answer fails the message once it is known, and counts against its number', async () => {
    const health = () => createSqliteState({ sqlite: te.engine.db.sqlite }).instances(org.orgId)[0]!;
    sim.scriptSends('evo-0', { type: 'error-ack' });
    sim.scriptSends('evo-0', { type: 'slow-answer', ms: 400 });
    const m = await send('5215500000022', 'Error antes que la respuesta');
    const sending = handler(job(m, m));
    for (const ack of await webhooks(2, 'message.status')) await onWebhook(ack);
    await sending;
    // As an ERROR ack after the answer: it went out, so it stays charged.
    expect(row(m)).toMatchObject({ status: 'failed', hold: 'posted' });
    expect(health().outcomes).toBe('oe');
  });

  it("acks before a lost answer's SEND_MESSAGE webhook are applied when the webhook settles the send", async () => {
    build(100);
    sim.setLatency(300, 'evo-0');
    const m = await send('5215500000023', 'Respuesta perdida');
    await expect(handler(job(m, m))).rejects.toMatchObject({ kind: 'timeout' });
    // Evolution's deliveries are separate requests, retried: the acks come first this time.
    const all = await webhooks(3);
    for (const e of all.filter((e) => e.kind === 'message.status')) await onWebhook(e);
    expect(row(m).status).toBe('sending');
    for (const e of all.filter((e) => e.kind === 'message.sent')) await onWebhook(e);
    expect(row(m)).toMatchObject({ status: 'delivered', hold: 'posted' });
    expect(earlyAcks().n).toBe(0);
  });

  it('keeps acks of unknown ids only while a message is out, and for an hour at most', async () => {
    const ack = (messageId: string): WebhookEvent => ({
      kind: 'message.status',
      instance: 'evo-0',
      messageId,
      remoteJid: '5215500000024@s.whatsapp.net',
      fromMe: true,
      status: 'delivered',
    });
    // Nothing of ours is out: an ack of a message sent from the phone is not ours to keep.
    await onWebhook(ack('3EB0PHONE1'));
    expect(earlyAcks().n).toBe(0);

    build(100);
    sim.setLatency(300, 'evo-0');
    const m = await send('5215500000024', 'En vuelo');
    await expect(handler(job(m, m))).rejects.toMatchObject({ kind: 'timeout' });
    await onWebhook(ack('3EB0PHONE2'));
    expect(earlyAcks().n).toBe(1);
    clock.advance(EARLY_ACK_TTL_MS + 1);
    await onWebhook(ack('3EB0PHONE3'));
    expect(te.engine.db.sqlite.prepare(`SELECT evolution_message_id AS id FROM early_acks`).all()).toEqual([
      { id: '3EB0PHONE3' },
    ]);
  });

  it('a redelivered SEND_MESSAGE of a settled message never settles another one with its text', async () => {
    const m1 = await send('5215500000003', 'Mismo texto');
    await expect(handler(job(m1, m1))).resolves.toMatchObject({ status: 'sent' });
    const first = (await hooks.waitFor(3))
      .map(({ body }) => parseWebhook(body))
      .filter((e) => e.kind === 'message.sent');
    expect(first).toHaveLength(1);
    // m2, the same text to the same number: its last try got no answer, it waits for WhatsApp.
    sim.setWebhook(undefined);
    build(100);
    sim.setLatency(300, 'evo-0');
    clock.advance(2000);
    const m2 = await send('5215500000003', 'Mismo texto');
    await expect(handler(job(m2, m2, 3, 3))).rejects.toBeInstanceOf(RetryLaterError);
    for (const e of first) await onWebhook(e as WebhookEvent);
    expect(row(m2)).toMatchObject({ status: 'sending', hold: 'pending' });
    expect(row(m1).status).toBe('sent');
  });

  it('a send waiting for confirmation is confirmed by its number even after a throttle moved its slot away', async () => {
    te.engine.db.sqlite.prepare(`UPDATE organizations SET plan_id = 'partner' WHERE id = ?`).run(org.orgId);
    sim.addInstance('evo-1');
    const second = await te.engine.call(
      'whatsapp:addInstance',
      { name: 'num-1', evolutionInstance: 'evo-1' },
      org.apiKey,
    );
    const ids = [org.instanceIds[0]!, second.id];
    build(100);
    const m = await send('5215500000001', 'Sin respuesta aún');
    const slotOf = (id: string) =>
      (
        te.engine.db.sqlite
          .prepare(`SELECT instance_id AS i FROM smartsend_reservations WHERE message_id = ?`)
          .get(id) as { i: string } | undefined
      )?.i;
    // Whichever number rotation gave it answers too late: its last try waits for WhatsApp.
    for (const evo of ['evo-0', 'evo-1']) sim.setLatency(300, evo);
    await expect(handler(job(m, m, 3, 3))).rejects.toBeInstanceOf(RetryLaterError);
    const from = slotOf(m)!;
    const evo = from === ids[0] ? 'evo-0' : 'evo-1';
    for (const e of ['evo-0', 'evo-1']) sim.setLatency(0, e);
    // WhatsApp throttles that number (another message pinned to it): its auto slots move to the other.
    sim.scriptSends(evo, { type: 'rate-overlimit' });
    clock.advance(2000);
    const pinned = (
      await te.engine.call('whatsapp:send', { instanceId: from, to: '5215500000009', text: 'x' }, org.apiKey)
    ).messageId;
    await expect(handler(job(pinned, pinned))).rejects.toMatchObject({ kind: 'rate_limited' });
    expect(slotOf(m)).not.toBe(from);
    // The number it went out on confirms it: sent and charged.
    for (const { body } of await hooks.waitFor(2)) {
      const event = parseWebhook(body);
      if (event.kind !== 'invalid') await onWebhook(event);
    }
    expect(row(m)).toMatchObject({ hold: 'posted', instance_id: from });
    expect(['sent', 'delivered']).toContain(row(m).status);
  });

  it('sends a message carried by two jobs (re-routed) once', async () => {
    const m = await send('5215500000005');
    const results = await Promise.all([handler(job(m, m)), handler(job(`${m}.moved`, m))]);
    expect(results.map((r) => (r as { status: string }).status).sort()).toEqual(['sending', 'sent']);
    expect(sim.sends).toHaveLength(1);
    expect(row(m)).toMatchObject({ status: 'sent', hold: 'posted' });
  });

  it('alerts each ban of a number, also a second one after it was paired again', async () => {
    let fed = 0;
    /** Hands the webhooks the simulator has sent since the last call to the handler. */
    const feed = async () => {
      await sim.webhooksIdle();
      for (const { body } of hooks.received.slice(fed)) {
        const event = parseWebhook(body);
        if (event.kind !== 'invalid') await onWebhook(event);
      }
      fed = hooks.received.length;
    };
    const bans = () =>
      te.engine.db.sqlite
        .prepare(`SELECT cycle, threshold FROM alerts WHERE kind = 'instance_banned' ORDER BY created_at, id`)
        .all();
    const health = () => createSqliteState({ sqlite: te.engine.db.sqlite }).instances(org.orgId)[0]!.health;
    const id = org.instanceIds[0]!;
    sim.ban('evo-0', 401);
    await feed();
    expect(health()).toBe('BANNED');
    expect(bans()).toEqual([{ cycle: id, threshold: 1 }]);
    sim.setState('evo-0', 'open'); // paired again by QR
    await feed();
    expect(health()).toBe('WARMUP');
    sim.ban('evo-0', 403);
    await feed();
    sim.ban('evo-0', 403); // the same close delivered again changes nothing
    await feed();
    expect(bans()).toEqual([
      { cycle: id, threshold: 1 },
      { cycle: id, threshold: 2 },
    ]);
  });

  it('a last try without an answer waits for WhatsApp to confirm it: settled by the webhook, or failed after the window', async () => {
    build(100);
    sim.setLatency(300, 'evo-0');
    // Confirmed late: the webhook settles it (sent, charged) and the job's next run finds it done.
    const m1 = await send('5215500000007', 'Última oportunidad');
    const waiting = await handler(job(m1, m1, 3, 3)).catch((e: unknown) => e);
    expect(waiting).toBeInstanceOf(RetryLaterError);
    expect((waiting as RetryLaterError).delayMs).toBe(CONFIRM_WINDOW_MS);
    expect(row(m1)).toMatchObject({
      status: 'sending',
      hold: 'pending',
      error: expect.stringMatching(/no answer/),
    });
    for (const { body } of await hooks.waitFor(3)) {
      const event = parseWebhook(body);
      if (event.kind !== 'invalid') await onWebhook(event);
    }
    expect(row(m1)).toMatchObject({ status: 'delivered', hold: 'posted', error: null });
    clock.advance(CONFIRM_WINDOW_MS);
    await expect(handler(job(m1, m1, 3, 3))).resolves.toMatchObject({ already: true });
    expect(sim.sends).toHaveLength(1);

    // Never confirmed (Evolution's webhook is off here): it fails once the window is over, not before.
    sim.setWebhook(undefined);
    clock.advance(2000);
    const m2 = await send('5215500000008', 'Sin confirmar');
    await expect(handler(job(m2, m2, 3, 3))).rejects.toBeInstanceOf(RetryLaterError);
    clock.advance(CONFIRM_WINDOW_MS - 1);
    const early = await handler(job(m2, m2, 3, 3)).catch((e: unknown) => e);
    expect(early).toMatchObject({ delayMs: 1 });
    expect(row(m2)).toMatchObject({ status: 'sending', hold: 'pending' });
    clock.advance(1);
    const unconfirmed = await handler(job(m2, m2, 3, 3)).catch((e: unknown) => e);
    expect(unconfirmed).toBeInstanceOf(UnrecoverableError);
    expect(errorCodeOf(unconfirmed)).toBe('whatsapp.unconfirmed');
    expect(row(m2)).toMatchObject({ status: 'failed', hold: 'voided' });
    expect(row(m2).error).toMatch(/no answer within .*; not confirmed by WhatsApp either/);
    await new Promise((r) => setTimeout(r, 400)); // the simulator's late send of m2 lands
    expect(sim.sends).toHaveLength(2); // tried once each: waiting never sends again
  });

  it('a send abandoned while its request is out (the engine stopping past its grace) is not sent again by the next run', async () => {
    sim.setLatency(300, 'evo-0');
    const m = await send('5215500000005', 'Interrumpido');
    const stop = new AbortController();
    const first = handler({ ...job(m, m), signal: stop.signal });
    await until('the request at Evolution', () => sendRequests() === 1); // its answer is not back
    stop.abort(new Error('worker closing'));
    expect(row(m)).toMatchObject({ status: 'sending', hold: 'pending' });
    expect(row(m).error).toBe('abandoned while being sent (worker closing)');

    // The job's next run (the engine started again) waits for WhatsApp instead of sending it again.
    const again = await handler(job(m, m)).catch((e: unknown) => e);
    expect(again).toMatchObject({ delayMs: CONFIRM_WINDOW_MS });
    // The answer arrives after all (the process lived on): sent and charged, the wait over.
    await expect(first).resolves.toMatchObject({ status: 'sent' });
    expect(row(m)).toMatchObject({ status: 'sent', hold: 'posted', error: null });
    await expect(handler(job(m, m))).resolves.toMatchObject({ already: true });
    expect(sendRequests()).toBe(1);

    // Had no answer come (here: past the client's timeout; nor the webhook), the window ends the wait
    // as a failure, still never a resend.
    build(100);
    sim.setWebhook(undefined);
    clock.advance(2000);
    const lost = await send('5215500000004', 'Perdido');
    const stop2 = new AbortController();
    const lostRun = handler({ ...job(lost, lost), signal: stop2.signal }).catch((e: unknown) => e);
    await until('the second request at Evolution', () => sendRequests() === 2);
    stop2.abort(new Error('worker closing'));
    expect(await lostRun).toMatchObject({ kind: 'timeout' });
    clock.advance(CONFIRM_WINDOW_MS);
    const failed = await handler(job(lost, lost)).catch((e: unknown) => e);
    expect(errorCodeOf(failed)).toBe('whatsapp.unconfirmed');
    expect(row(lost)).toMatchObject({ status: 'failed', hold: 'voided' });
    expect(row(lost).error).toBe(
      'abandoned while being sent (worker closing); not confirmed by WhatsApp either',
    );
    expect(sendRequests()).toBe(2);
  });

  it('settles a send whose answer never came from the SEND_MESSAGE webhook; the retry does not send again', async () => {
    build(100);
    sim.setLatency(300, 'evo-0');
    const m = await send('5215500000006', 'Sin respuesta');
    const err = await handler(job(m, m)).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'timeout' });
    expect(row(m).status).toBe('sending');

    // Evolution sends it anyway once its latency is over: SEND_MESSAGE, then the two acks.
    for (const { body } of await hooks.waitFor(3)) {
      const event = parseWebhook(body);
      if (event.kind !== 'invalid') await onWebhook(event);
    }
    expect(row(m)).toMatchObject({ status: 'delivered', hold: 'posted' });
    await expect(handler(job(m, m, 2))).resolves.toMatchObject({ already: true });
    expect(sim.sends).toHaveLength(1);
  });
});
