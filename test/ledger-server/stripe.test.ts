import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HostedOrg } from '../../src-engine/contracts/hosted-ledger.ts';
import type { PullResponse } from '../../src-engine/contracts/sync.ts';
import type { LedgerServer } from '../../src-ledger/server.ts';
import { signStripePayload } from '../../src-ledger/stripe.ts';
import { manualClock } from '../support/temp-database.ts';
import { BACKENDS, C, STRIPE_SECRET, client, startTestLedger, useBackend } from './support.ts';

/** An event envelope as Stripe sends it, around `object` (API objects trimmed to the fields that matter here). */
function stripeEvent(eventId: string, type: string, object: Record<string, unknown>, extra = {}) {
  return {
    id: eventId,
    object: 'event',
    api_version: '2025-09-30.clover',
    created: 1_768_000_000,
    livemode: false,
    ...extra,
    type,
    data: { object },
  };
}

function checkoutCompleted(
  eventId: string,
  orgId: string,
  cents: number,
  extra: Record<string, unknown> = {},
) {
  return stripeEvent(
    eventId,
    'checkout.session.completed',
    {
      id: 'cs_test_a1b2c3',
      object: 'checkout.session',
      amount_subtotal: cents,
      amount_total: cents,
      currency: 'usd',
      customer: null,
      metadata: { orgId },
      mode: 'payment',
      payment_intent: 'pi_3Q_test_123',
      payment_status: 'paid',
      status: 'complete',
      ...extra,
    },
    { pending_webhooks: 1, request: { id: null, idempotency_key: null } },
  );
}
function paymentIntentSucceeded(eventId: string, orgId: string, cents: number, piId = 'pi_3Q_test_123') {
  return stripeEvent(eventId, 'payment_intent.succeeded', {
    id: piId,
    object: 'payment_intent',
    amount: cents,
    amount_received: cents,
    currency: 'usd',
    metadata: { orgId },
    status: 'succeeded',
  });
}

describe.each(BACKENDS)('Stripe webhook on %s', (backend) => {
  const source = useBackend(backend);
  const clock = manualClock(Date.UTC(2026, 0, 10, 12));
  let server: LedgerServer;
  let api: ReturnType<typeof client>;
  let org: HostedOrg;

  beforeEach(async () => {
    server = await startTestLedger(await source.databaseUrl(), { now: clock.now });
    api = client(server.url);
    org = await api.createOrg('Payer');
  });
  afterEach(() => server.close());

  const deliver = async (event: unknown, signature?: string, raw = JSON.stringify(event)) => {
    const res = await fetch(`${server.url}/v1/webhooks/stripe`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'stripe-signature': signature ?? signStripePayload(raw, STRIPE_SECRET, clock.now()),
      },
      body: raw,
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const balance = async () =>
    (await api.admin<HostedOrg>('GET', `/v1/admin/orgs/${org.id}`)).body.balanceMicro;

  it('credits a paid checkout session once, however often the event or its payment intent arrive', async () => {
    const first = await deliver(checkoutCompleted('evt_1', org.id, 2500));
    expect(first).toMatchObject({ status: 200, body: { outcome: 'credited', firstDelivery: true } });
    expect(await balance()).toBe(25 * C);
    expect((await deliver(checkoutCompleted('evt_1', org.id, 2500))).body).toMatchObject({
      outcome: 'credited',
      firstDelivery: false,
    });
    // The same payment's payment_intent.succeeded (another event id) does not credit again.
    expect((await deliver(paymentIntentSucceeded('evt_2', org.id, 2500))).body).toMatchObject({
      outcome: 'already credited (same payment)',
    });
    expect(await balance()).toBe(25 * C);
    // Another payment intent is another top-up, and the device pulls it as a TOPUP.
    await deliver(paymentIntentSucceeded('evt_3', org.id, 1001, 'pi_other'));
    expect(await balance()).toBe(25 * C + 10_010_000);
    const { token } = await api.issueDevice(org.id);
    const pulled = await api.call<PullResponse>('GET', '/v1/sync/pull', token);
    expect(pulled.body.entries.map((e) => [e.kind, e.amountMicro, e.reference])).toEqual([
      ['TOPUP', 25 * C, 'stripe:pi_3Q_test_123'],
      ['TOPUP', 10_010_000, 'stripe:pi_other'],
    ]);
    expect((await server.verify()).ok).toBe(true);
  });

  it('ignores unpaid sessions, other currencies, unknown orgs and other event types (200, nothing credited)', async () => {
    const cases = [
      [
        checkoutCompleted('evt_u', org.id, 900, { payment_status: 'unpaid' }),
        'ignored: payment_status unpaid',
      ],
      [
        checkoutCompleted('evt_c', org.id, 900, { currency: 'eur', payment_intent: 'pi_eur' }),
        'ignored: currency eur',
      ],
      [
        checkoutCompleted('evt_o', 'no-such-org', 900, { payment_intent: 'pi_o' }),
        'ignored: unknown org no-such-org',
      ],
      [
        { ...paymentIntentSucceeded('evt_t', org.id, 900), type: 'customer.created' },
        'ignored: customer.created',
      ],
    ] as const;
    for (const [event, outcome] of cases) {
      expect(await deliver(event)).toMatchObject({ status: 200, body: { outcome } });
    }
    expect(await balance()).toBe(0);
  });

  it('rejects bad signatures, stale or future timestamps, and a body changed after signing', async () => {
    const event = checkoutCompleted('evt_sig', org.id, 2500);
    const raw = JSON.stringify(event);
    const t = Math.floor(clock.now() / 1000);
    const tooOld = signStripePayload(raw, STRIPE_SECRET, clock.now() - 301_000);
    const tooNew = signStripePayload(raw, STRIPE_SECRET, clock.now() + 301_000);
    const otherSecret = signStripePayload(raw, 'whsec_another_secret_0000000000', clock.now());
    for (const sig of [tooOld, tooNew, otherSecret, `t=${t}`, 'garbage', `t=${t},v1=${'0'.repeat(64)}`]) {
      expect((await deliver(event, sig)).body).toMatchObject({ error: 'UNAUTHORIZED' });
    }
    const signed = signStripePayload(raw, STRIPE_SECRET, clock.now());
    const tampered = raw.replace('2500', '250000');
    expect((await deliver(event, signed, tampered)).status).toBe(401);
    // Within the tolerance, and with a second (rolled) secret's v1 first, it is accepted.
    const edge = signStripePayload(raw, STRIPE_SECRET, clock.now() - 299_000);
    const rolled = `${otherSecret.split(',')[0]!.replace(/t=\d+/, edge.split(',')[0]!)},${otherSecret.split(',')[1]},${edge.split(',')[1]}`;
    expect((await deliver(event, rolled)).status).toBe(200);
    expect(await balance()).toBe(25 * C);
  });

  it('answers 503 while no webhook secret is configured', async () => {
    const bare = await startTestLedger(undefined, { stripeWebhookSecret: undefined });
    try {
      const res = await fetch(`${bare.url}/v1/webhooks/stripe`, {
        method: 'POST',
        body: '{}',
        headers: { 'content-type': 'application/json' },
      });
      expect(res.status).toBe(503);
    } finally {
      await bare.close();
    }
  });
});
