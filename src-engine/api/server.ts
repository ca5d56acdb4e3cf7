import swagger from '@fastify/swagger';
import { z } from 'zod';
import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import type { EngineEvent } from '../contracts/events.ts';
import { ErrorBodySchema } from '../contracts/errors.ts';
import { AppError } from '../errors.ts';
import { OPERATIONS, type Operation, type OperationName } from '../contracts/operations.ts';
import type { Engine } from '../engine.ts';
import { createJsonApp } from './json-app.ts';
import { createTurnBatch } from './turn-batch.ts';
import { registerWebhooks } from './webhooks.ts';

export const BODY_LIMIT = 64 * 1024;
/** A WebSocket client this far behind is cut off rather than buffered without bound. */
const MAX_WS_BUFFER = 4 * 1024 * 1024;
/** How stale the event stream's check of its credential may get. */
const REAUTH_MS = 1_000;

/** The API key of a request: `Authorization: Bearer <key>` or `X-Api-Key`; `?key=` only for WebSockets. */
function presentedKey(req: FastifyRequest, allowQuery: boolean): string | undefined {
  // The scheme's name is case-insensitive (RFC 9110 §11.1).
  const bearer = /^bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  if (bearer) return bearer[1]!.trim();
  const header = req.headers['x-api-key'];
  if (typeof header === 'string') return header;
  if (allowQuery) {
    const key = (req.query as Record<string, unknown> | undefined)?.key;
    if (typeof key === 'string') return key;
  }
  return undefined;
}

/**
 * One input object per operation, as the guard expects it: path parameters, or the query string
 * (GET), or the JSON body (POST); an `Idempotency-Key` header fills `idempotencyKey` when the body
 * has none, and one that names another key than the body's is refused (which one was meant?).
 */
function requestInput(req: FastifyRequest, op: Operation): unknown {
  // Path parameters and, for GET, the query string make one input object (see OPERATIONS).
  if (op.method === 'GET') return { ...(req.query as object), ...(req.params as object) };
  if (op.path.includes('/:')) return req.params;
  const header = req.headers['idempotency-key'];
  const body = req.body ?? {};
  const takesKey = op.input instanceof z.ZodObject && 'idempotencyKey' in op.input.shape;
  if (takesKey && typeof header === 'string' && typeof body === 'object' && !Array.isArray(body)) {
    const inBody = (body as { idempotencyKey?: unknown }).idempotencyKey;
    if (typeof inBody === 'string' && inBody.toLowerCase() !== header.toLowerCase()) {
      throw new AppError(
        'VALIDATION_ERROR',
        "The Idempotency-Key header and the body's idempotencyKey differ",
        {
          issues: [
            { path: ['idempotencyKey'], message: 'differs from the Idempotency-Key header', code: 'custom' },
          ],
        },
      );
    }
    return { idempotencyKey: header, ...(body as Record<string, unknown>) };
  }
  return body;
}

/**
 * Where an operation's input comes from, for the OpenAPI document: the path's parameters (`:id`) are
 * path parameters; for GET the rest of the input is the query string, for POST the body (a POST with
 * path parameters takes nothing else).
 */
function inputSchemas(op: Operation) {
  const names = [...op.path.matchAll(/:(\w+)/g)].map((m) => m[1]!);
  if (names.length === 0) return op.method === 'GET' ? { querystring: op.input } : { body: op.input };
  if (op.method === 'POST' || !(op.input instanceof z.ZodObject)) return { params: op.input };
  const fields = Object.entries(op.input.shape as z.ZodRawShape);
  const part = (inPath: boolean) => fields.filter(([name]) => names.includes(name) === inPath);
  const query = part(false);
  return {
    params: z.object(Object.fromEntries(part(true))),
    ...(query.length > 0 && { querystring: z.object(Object.fromEntries(query)) }),
  };
}

/** Route schemas that document only: the guard (or the route) validates, in the shared error shape. */
const documentOnly = () => (data: unknown) => ({ value: data });

/** The engine's local HTTP API, versioned under /api/v1, with its OpenAPI document generated from zod. */
export async function createApiServer(engine: Engine): Promise<FastifyInstance> {
  const log = engine.log.child({ module: 'api' });
  const app = createJsonApp({ bodyLimit: BODY_LIMIT, log });
  const turn = createTurnBatch();

  await app.register(swagger, {
    openapi: {
      info: { title: 'Agencia Desk engine API', version: '1' },
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: 'Organization API key (ad_…)' },
        },
      },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(websocket, { options: { maxPayload: 4096 } });

  const errors = {
    400: ErrorBodySchema,
    401: ErrorBodySchema,
    402: ErrorBodySchema,
    403: ErrorBodySchema,
    404: ErrorBodySchema,
    409: ErrorBodySchema,
    429: ErrorBodySchema,
    // A service the operation needs is out of reach (Ollama, Kokoro), or commands cannot be stored.
    503: ErrorBodySchema,
  };
  const bodyErrors = { 413: ErrorBodySchema, 415: ErrorBodySchema };

  // Every operation of the shared table is a route; the guard validates (schemas here document).
  for (const [name, op] of Object.entries(OPERATIONS) as [OperationName, Operation][]) {
    const inputs = inputSchemas(op);
    app.route({
      method: op.method,
      url: `/api/v1${op.path}`,
      schema: {
        summary: op.summary,
        ...(op.public ? {} : { security: [{ apiKey: [] }] }),
        ...inputs,
        response: {
          [op.status]: op.output,
          ...errors,
          ...('body' in inputs && bodyErrors),
          // Health answers 503 with its own body: which check failed.
          ...(op.public && { 503: op.output }),
        },
      },
      validatorCompiler: documentOnly,
      handler: async (req, reply) => {
        const input = requestInput(req, op);
        const key = presentedKey(req, false);
        const output = await turn.run(() => engine.call(name, input, key));
        const status =
          name === 'health:get' && (output as { status?: string }).status !== 'ok' ? 503 : op.status;
        return reply.status(status).send(output);
      },
    });
  }

  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  registerWebhooks(app, engine);

  // The typed event stream: the same events the desktop UI gets over IPC.
  app.route({
    method: 'GET',
    url: '/api/v1/events',
    schema: {
      summary: 'Event stream (WebSocket); authenticate with a Bearer key or ?key=',
      security: [{ apiKey: [] }],
      querystring: z.object({ key: z.string().optional() }),
      response: errors,
    },
    validatorCompiler: documentOnly,
    preValidation: async (req) => {
      (req as FastifyRequest & { orgId?: string }).orgId = engine.authenticate(presentedKey(req, true)).orgId;
    },
    // A plain GET (no upgrade) gets the shared error shape, not the plugin's empty 404.
    handler: async () => {
      throw new AppError(
        'VALIDATION_ERROR',
        'GET /api/v1/events is a WebSocket: send it as an upgrade (Connection: Upgrade, Upgrade: websocket)',
      );
    },
    wsHandler: (socket, req) => {
      const orgId = (req as FastifyRequest & { orgId?: string }).orgId;
      const credential = presentedKey(req, true);
      let checkedAt = Date.now();
      /** A revoked key (or ended session) ends its stream: checked again before an event, at most once a second. */
      const stillValid = () => {
        if (Date.now() - checkedAt < REAUTH_MS) return true;
        try {
          engine.authenticate(credential);
          checkedAt = Date.now();
          return true;
        } catch {
          socket.close(1008, 'credential no longer valid');
          return false;
        }
      };
      const off = engine.events.on((event: EngineEvent) => {
        // An org's own events only: job events name the org of their job's payload.
        if (!('orgId' in event) || event.orgId !== orgId || !stillValid()) return;
        if (socket.bufferedAmount > MAX_WS_BUFFER) {
          socket.close(1013, 'client too slow');
          return;
        }
        socket.send(JSON.stringify(event));
      });
      socket.on('close', off);
      socket.on('error', off);
    },
  });

  return app;
}
