import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ErrorBodySchema } from '../src-engine/contracts/errors.ts';
import {
  AdjustmentInputSchema,
  BillingRunSchema,
  ChangePlanInputSchema,
  CreateOrgInputSchema,
  DeviceSchema,
  DeviceTokenSchema,
  HealthSchema,
  HostedOrgSchema,
  IssueDeviceInputSchema,
  PlansListSchema,
  PostedSchema,
  ReferralsReportSchema,
  SetReferrerInputSchema,
  StatementQuerySchema,
  StatementSchema,
  TopUpInputSchema,
} from '../src-engine/contracts/hosted-ledger.ts';
import { VerifyReportSchema } from '../src-engine/contracts/ledger.ts';
import { IdParamSchema } from '../src-engine/contracts/common.ts';
import {
  AuthoritySchema,
  PullQuerySchema,
  PullResponseSchema,
  PushRequestSchema,
  PushResponseSchema,
} from '../src-engine/contracts/sync.ts';
import { createJsonApp } from '../src-engine/api/json-app.ts';
import { AppError } from '../src-engine/errors.ts';
import type { Logger } from '../src-engine/logger.ts';
import { authenticateAdmin, authenticateDevice, bearer, type DeviceIdentity } from './auth.ts';
import { runBilling } from './billing.ts';
import { toPlan, verifyBooks } from './books.ts';
import type { LedgerDatabase } from './db/connection.ts';
import { plans } from './db/schema.ts';
import {
  changePlan,
  createOrg,
  getOrg,
  issueDevice,
  listDevices,
  postCredit,
  revokeDevice,
  setReferrer,
} from './orgs.ts';
import { referralsReport, statement } from './reports.ts';
import { handleStripeEvent, verifyStripeSignature } from './stripe.ts';
import { authority, pull, push } from './sync.ts';

/** A push of 1,000 entries is about 250 KB of JSON. */
export const LEDGER_BODY_LIMIT = 1024 * 1024;

export interface LedgerAppDeps {
  database: LedgerDatabase;
  now: () => number;
  log: Logger;
  adminToken: string | undefined;
  stripeWebhookSecret: string | undefined;
  version: string;
}

const errors = {
  400: ErrorBodySchema,
  401: ErrorBodySchema,
  402: ErrorBodySchema,
  404: ErrorBodySchema,
  409: ErrorBodySchema,
  503: ErrorBodySchema,
};
const OrgParamsSchema = IdParamSchema;

/** The hosted ledger's HTTP API (see SYNC.md and the README for the routes). */
export async function createLedgerApp(deps: LedgerAppDeps): Promise<FastifyInstance> {
  const { database, now, log } = deps;
  const db = database.db;
  const app = createJsonApp({ bodyLimit: LEDGER_BODY_LIMIT, log });

  const device = (req: FastifyRequest): Promise<DeviceIdentity> =>
    authenticateDevice(db, bearer(req.headers.authorization));
  const admin = async (req: FastifyRequest) =>
    authenticateAdmin(deps.adminToken, bearer(req.headers.authorization));
  /** An org's own reports: a device token of that org, or the admin token. Other orgs are not found. */
  const orgReader = async (req: FastifyRequest, orgId: string) => {
    const token = bearer(req.headers.authorization);
    if (token?.startsWith('ldt_')) {
      const who = await authenticateDevice(db, token);
      if (who.orgId !== orgId) throw new AppError('NOT_FOUND', `Organization ${orgId} not found`);
      return;
    }
    authenticateAdmin(deps.adminToken, token);
  };

  app.get('/health', { schema: { response: { 200: HealthSchema } } }, async () => {
    await db.execute('SELECT 1');
    return { status: 'ok' as const, version: deps.version, database: database.kind };
  });

  app.get('/v1/plans', { schema: { response: { 200: PlansListSchema } } }, async () => ({
    plans: (await db.select().from(plans).orderBy(plans.priceMicro)).map(toPlan),
  }));

  // --- sync (device token) ---
  app.post(
    '/v1/sync/push',
    { schema: { body: PushRequestSchema, response: { 200: PushResponseSchema, ...errors } } },
    async (req) => push(db, await device(req), req.body, now()),
  );
  app.get(
    '/v1/sync/pull',
    { schema: { querystring: PullQuerySchema, response: { 200: PullResponseSchema, ...errors } } },
    async (req) => pull(db, await device(req), req.query, now()),
  );

  // --- org reports (device token of the org, or admin) ---
  app.get(
    '/v1/orgs/:id/referrals',
    { schema: { params: OrgParamsSchema, response: { 200: ReferralsReportSchema, ...errors } } },
    async (req) => {
      await orgReader(req, req.params.id);
      return referralsReport(db, req.params.id);
    },
  );
  app.get(
    '/v1/orgs/:id/statement',
    {
      schema: {
        params: OrgParamsSchema,
        querystring: StatementQuerySchema,
        response: { 200: StatementSchema, ...errors },
      },
    },
    async (req) => {
      await orgReader(req, req.params.id);
      return statement(db, req.params.id, req.query.cycle, now());
    },
  );

  // --- Stripe webhook: the raw body is what the signature covers ---
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    scope.post('/v1/webhooks/stripe', async (req, reply) => {
      if (!deps.stripeWebhookSecret) throw new AppError('UNAVAILABLE', 'Stripe webhooks are not configured');
      const raw = typeof req.body === 'string' ? req.body : '';
      const sig = req.headers['stripe-signature'];
      verifyStripeSignature(typeof sig === 'string' ? sig : undefined, raw, deps.stripeWebhookSecret, now());
      const result = await handleStripeEvent(db, raw, now());
      if (result.firstDelivery)
        log.info({ eventId: result.eventId, outcome: result.outcome }, 'stripe event');
      return reply.status(200).send({ received: true, ...result });
    });
  });

  // --- admin (operator token) ---
  await app.register(async (scope) => {
    const s = scope.withTypeProvider<ZodTypeProvider>();
    s.addHook('onRequest', admin);
    s.post(
      '/v1/admin/orgs',
      { schema: { body: CreateOrgInputSchema, response: { 201: HostedOrgSchema, ...errors } } },
      async (req, reply) => reply.status(201).send(await createOrg(db, req.body, now())),
    );
    s.get(
      '/v1/admin/orgs/:id',
      { schema: { params: OrgParamsSchema, response: { 200: HostedOrgSchema, ...errors } } },
      async (req) => getOrg(db, req.params.id),
    );
    s.get(
      '/v1/admin/orgs/:id/authority',
      { schema: { params: OrgParamsSchema, response: { 200: AuthoritySchema, ...errors } } },
      async (req) => authority(db, req.params.id, now()),
    );
    s.post(
      '/v1/admin/orgs/:id/devices',
      {
        schema: {
          params: OrgParamsSchema,
          body: IssueDeviceInputSchema,
          response: { 201: DeviceTokenSchema, ...errors },
        },
      },
      async (req, reply) =>
        reply.status(201).send(await issueDevice(db, req.params.id, req.body.name, now())),
    );
    s.get(
      '/v1/admin/orgs/:id/devices',
      {
        schema: {
          params: OrgParamsSchema,
          response: { 200: z.object({ devices: z.array(DeviceSchema) }), ...errors },
        },
      },
      async (req) => ({ devices: await listDevices(db, req.params.id) }),
    );
    s.post(
      '/v1/admin/devices/:id/revoke',
      { schema: { params: OrgParamsSchema, response: { 200: DeviceSchema, ...errors } } },
      async (req) => revokeDevice(db, req.params.id, now()),
    );
    s.post(
      '/v1/admin/orgs/:id/topups',
      {
        schema: {
          params: OrgParamsSchema,
          body: TopUpInputSchema,
          response: { 200: PostedSchema, 201: PostedSchema, ...errors },
        },
      },
      async (req, reply) => {
        const posted = await postCredit(db, req.params.id, 'TOPUP', req.body, now());
        return reply.status(posted.created ? 201 : 200).send(posted);
      },
    );
    s.post(
      '/v1/admin/orgs/:id/adjustments',
      {
        schema: {
          params: OrgParamsSchema,
          body: AdjustmentInputSchema,
          response: { 200: PostedSchema, 201: PostedSchema, ...errors },
        },
      },
      async (req, reply) => {
        const posted = await postCredit(db, req.params.id, 'ADJUSTMENT', req.body, now());
        return reply.status(posted.created ? 201 : 200).send(posted);
      },
    );
    s.post(
      '/v1/admin/orgs/:id/plan',
      {
        schema: {
          params: OrgParamsSchema,
          body: ChangePlanInputSchema,
          response: { 200: HostedOrgSchema, ...errors },
        },
      },
      async (req) => changePlan(db, req.params.id, req.body, now()),
    );
    s.post(
      '/v1/admin/orgs/:id/referrer',
      {
        schema: {
          params: OrgParamsSchema,
          body: SetReferrerInputSchema,
          response: { 200: HostedOrgSchema, ...errors },
        },
      },
      async (req) => setReferrer(db, req.params.id, req.body.referralCode),
    );
    s.post(
      '/v1/admin/billing/run',
      { schema: { response: { 200: BillingRunSchema, ...errors } } },
      async () => runBilling(db, now(), log),
    );
    s.get('/v1/admin/verify', { schema: { response: { 200: VerifyReportSchema, ...errors } } }, async () =>
      verifyBooks(db),
    );
  });

  return app;
}
