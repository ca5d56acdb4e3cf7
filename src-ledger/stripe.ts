import { createHmac, timingSafeEqual } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import { AppError } from '../src-engine/errors.ts';
import { lockOrgs, postOne } from './books.ts';
import type { LedgerDb } from './db/connection.ts';
import { stripeEvents } from './db/schema.ts';
import { deterministicId } from './ids.ts';

/*
 * Stripe-compatible top-ups. Stripe signs `${t}.${rawBody}` with HMAC-SHA256 under the endpoint's
 * secret and sends `Stripe-Signature: t=<unix s>,v1=<hex>[,v1=<hex>...]` (more v1 while a secret is
 * rolled). An event is accepted when one v1 matches (constant-time) and t is within the tolerance.
 * `checkout.session.completed` (paid), `checkout.session.async_payment_succeeded` and
 * `payment_intent.succeeded` carrying `metadata.orgId` credit a TOPUP of the amount paid (USD cents ->
 * credits, 1 cent = 10,000 micro). Events are idempotent by event id, and the TOPUP id is derived from
 * the payment intent, so the session event and the payment intent event of one payment credit once.
 */

export const STRIPE_TOLERANCE_S = 300;
const MICRO_PER_CENT = 10_000;

/** Verifies a `Stripe-Signature` header over the raw body; UNAUTHORIZED when it does not hold. */
export function verifyStripeSignature(
  header: string | undefined,
  rawBody: string,
  secret: string,
  nowMs: number,
  toleranceS = STRIPE_TOLERANCE_S,
): void {
  const bad = (why: string) => new AppError('UNAUTHORIZED', `Stripe signature rejected: ${why}`);
  if (!header) throw bad('no Stripe-Signature header');
  let t: string | undefined;
  const v1: string[] = [];
  for (const part of header.split(',')) {
    const eqAt = part.indexOf('=');
    if (eqAt === -1) continue;
    const key = part.slice(0, eqAt).trim();
    const value = part.slice(eqAt + 1).trim();
    if (key === 't') t = value;
    else if (key === 'v1') v1.push(value);
  }
  if (!t || !/^\d{1,12}$/.test(t)) throw bad('no timestamp');
  if (v1.length === 0) throw bad('no v1 signature');
  if (Math.abs(nowMs / 1000 - Number(t)) > toleranceS) throw bad('timestamp outside the tolerance');
  const expected = createHmac('sha256', secret).update(`${t}.${rawBody}`, 'utf8').digest();
  const match = v1.some((sig) => {
    const given = /^[0-9a-f]{64}$/i.test(sig) ? Buffer.from(sig, 'hex') : Buffer.alloc(0);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!match) throw bad('no matching signature');
}

/** The signature header Stripe would send: for tests, simulators and the bench. */
export function signStripePayload(rawBody: string, secret: string, nowMs: number): string {
  const t = Math.floor(nowMs / 1000);
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${rawBody}`, 'utf8').digest('hex')}`;
}

const MetadataSchema = z.record(z.string(), z.string()).nullish();
const StripeEventSchema = z.object({
  id: z.string().min(1).max(255),
  object: z.literal('event'),
  type: z.string(),
  data: z.object({ object: z.record(z.string(), z.unknown()) }),
});
const SessionSchema = z.object({
  id: z.string(),
  object: z.literal('checkout.session'),
  amount_total: z.number().int().nullable(),
  currency: z.string().nullable(),
  payment_status: z.string(),
  payment_intent: z.string().nullish(),
  metadata: MetadataSchema,
});
const PaymentIntentSchema = z.object({
  id: z.string(),
  object: z.literal('payment_intent'),
  amount_received: z.number().int(),
  currency: z.string(),
  metadata: MetadataSchema,
});

export interface StripeOutcome {
  eventId: string;
  outcome: string;
  transferId: string | null;
  /** False when the event id was seen before (its first outcome is returned). */
  firstDelivery: boolean;
}

interface Payment {
  orgId: string | undefined;
  paymentId: string;
  amountCents: number;
  currency: string;
}

function paymentOf(type: string, object: Record<string, unknown>): Payment | string {
  if (type === 'checkout.session.completed' || type === 'checkout.session.async_payment_succeeded') {
    const s = SessionSchema.safeParse(object);
    if (!s.success) return 'ignored: not a checkout session';
    if (s.data.payment_status !== 'paid') return `ignored: payment_status ${s.data.payment_status}`;
    return {
      orgId: s.data.metadata?.orgId,
      paymentId: s.data.payment_intent ?? s.data.id,
      amountCents: s.data.amount_total ?? 0,
      currency: s.data.currency ?? '',
    };
  }
  if (type === 'payment_intent.succeeded') {
    const p = PaymentIntentSchema.safeParse(object);
    if (!p.success) return 'ignored: not a payment intent';
    return {
      orgId: p.data.metadata?.orgId,
      paymentId: p.data.id,
      amountCents: p.data.amount_received,
      currency: p.data.currency,
    };
  }
  return `ignored: ${type}`;
}

/** Applies one verified event: credits the top-up it describes, once per event and once per payment. */
export async function handleStripeEvent(db: LedgerDb, rawBody: string, now: number): Promise<StripeOutcome> {
  let json: unknown;
  try {
    json = JSON.parse(rawBody);
  } catch {
    throw new AppError('VALIDATION_ERROR', 'Malformed JSON body');
  }
  const parsed = StripeEventSchema.safeParse(json);
  if (!parsed.success) throw new AppError('VALIDATION_ERROR', 'Not a Stripe event');
  const event = parsed.data;
  return db.transaction(async (tx) => {
    const [seen] = await tx.select().from(stripeEvents).where(eq(stripeEvents.id, event.id)).for('update');
    if (seen)
      return { eventId: seen.id, outcome: seen.outcome, transferId: seen.transferId, firstDelivery: false };
    const payment = paymentOf(event.type, event.data.object);
    let outcome: string;
    let transferId: string | null = null;
    let orgId: string | null = null;
    if (typeof payment === 'string') outcome = payment;
    else if (payment.currency.toLowerCase() !== 'usd') outcome = `ignored: currency ${payment.currency}`;
    else if (payment.amountCents <= 0) outcome = 'ignored: nothing paid';
    else if (!payment.orgId) outcome = 'ignored: no metadata.orgId';
    else {
      const locked = await lockOrgs(tx, [payment.orgId]);
      if (!locked.has(payment.orgId)) outcome = `ignored: unknown org ${payment.orgId}`;
      else {
        orgId = payment.orgId;
        transferId = deterministicId(`stripe:${payment.paymentId}`);
        const { created } = await postOne(
          tx,
          locked,
          {
            id: transferId,
            orgId,
            kind: 'TOPUP',
            amountMicro: payment.amountCents * MICRO_PER_CENT,
            reference: `stripe:${payment.paymentId}`,
            source: 'server',
          },
          now,
        );
        outcome = created ? 'credited' : 'already credited (same payment)';
      }
    }
    // A concurrent delivery of the same event fails on the primary key (500): Stripe retries it and
    // then finds it seen.
    await tx
      .insert(stripeEvents)
      .values({ id: event.id, type: event.type, orgId, transferId, outcome, receivedAt: now });
    return { eventId: event.id, outcome, transferId, firstDelivery: true };
  });
}
