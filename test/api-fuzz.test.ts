import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorBodySchema } from '../src-engine/contracts/errors.ts';
import { OPERATIONS, type OperationName } from '../src-engine/contracts/operations.ts';
import { canonicalJson } from '../src-engine/guard/idempotency.ts';
import { UnrecoverableError } from '../src-engine/queue/errors.ts';
import {
  listenApi,
  startTestEngine,
  type TestApi,
  type TestEngine,
  type TestOrg,
} from './support/test-engine.ts';

/**
 * Throws thousands of random and mutated requests at every route of the real API over HTTP and
 * checks that it never answers 5xx (except 503 from the AI routes, whose services are down here),
 * that every error is in the shared shape, and that no rejected request leaves anything behind.
 * Reproduce a failure with the seed it prints: `FUZZ_SEED=<seed> npx vitest run test/api-fuzz.test.ts`.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_120);
const RUNS = Number(process.env.FUZZ_RUNS ?? 4000);
const AI_ROUTES: ReadonlySet<string> = new Set<OperationName>(['ai:models', 'ai:voices']);

interface FuzzRequest {
  /** The operation the request aims at, when it aims at one (for the report and the checks). */
  op?: OperationName;
  /** What the generator did to it (valid, mutated <field>, truncated, ...). */
  kind: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}
interface FuzzAnswer {
  status: number;
  contentType: string | undefined;
  text: string;
}

let t: TestEngine;
let api: TestApi;
let port: number;
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function fire(req: FuzzRequest): Promise<FuzzAnswer> {
  return new Promise((resolve, reject) => {
    // An explicit length: Node sends a GET's body unframed otherwise, and the server reads it as the next request.
    const headers =
      req.body === undefined
        ? req.headers
        : { ...req.headers, 'content-length': String(Buffer.byteLength(req.body)) };
    const r = request(
      { host: '127.0.0.1', port, agent, method: req.method, path: `/api/v1${req.path}`, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: res.headers['content-type'],
            text: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    r.end(req.body);
  });
}

const count = (sql: string) => (t.engine.db.sqlite.prepare(sql).get() as { n: number }).n;
/** Everything a rejected request must leave as it was. */
const footprint = () => ({
  messages: count(`SELECT count(*) AS n FROM sent_messages`),
  runs: count(`SELECT count(*) AS n FROM agent_runs`),
  reservations: count(`SELECT count(*) AS n FROM reservations`),
  entries: count(`SELECT count(*) AS n FROM ledger_entries`),
  jobs: count(`SELECT count(*) AS n FROM jobs`),
  outbox: count(`SELECT count(*) AS n FROM job_outbox`),
  idempotency: count(`SELECT count(*) AS n FROM idempotency_keys`),
  instances: count(`SELECT count(*) AS n FROM whatsapp_instances`),
  branding: count(`SELECT count(*) AS n FROM branding`),
  deadLetters: count(`SELECT count(*) AS n FROM dead_letters`),
  held: count(`SELECT coalesce(sum(messages_held + ai_runs_held), 0) AS n FROM usage_counters`),
  pendingMicro: count(`SELECT coalesce(sum(amount_micro), 0) AS n FROM reservations WHERE state = 'pending'`),
});

/** Rows each table holds, by the id a 2xx answer names them with. */
const OWNED_ROWS = {
  sent_messages: `SELECT id AS v FROM sent_messages`,
  agent_runs: `SELECT id AS v FROM agent_runs`,
  jobs: `SELECT coalesce(job_key, CAST(seq AS TEXT)) AS v FROM jobs`,
  reservations: `SELECT job_id AS v FROM reservations`,
  whatsapp_instances: `SELECT id AS v FROM whatsapp_instances`,
  branding: `SELECT org_id AS v FROM branding`,
  // A key's stored result is the answer it gave.
  idempotency_keys: `SELECT result AS v FROM idempotency_keys`,
} as const;
type Owned = Record<keyof typeof OWNED_ROWS, Set<string>>;
const ownedRows = (): Owned =>
  Object.fromEntries(
    Object.entries(OWNED_ROWS).map(([table, sql]) => [
      table,
      new Set(
        (t.engine.db.sqlite.prepare(sql).all() as { v: string }[]).map((r) =>
          table === 'idempotency_keys' ? canonicalJson(JSON.parse(r.v)) : r.v,
        ),
      ),
    ]),
  ) as Owned;

beforeAll(async () => {
  t = await startTestEngine();
  api = await listenApi(t.engine);
  port = api.port;
});
afterAll(async () => {
  agent.destroy();
  await api?.close();
  await t?.dispose();
});

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

/** Header-safe text (what Node lets a client send: printable ASCII, tab and Latin-1). */
const headerText = (max: number) => fc.stringMatching(new RegExp(`^[\\t\\x20-\\x7e\\x80-\\xff]{0,${max}}$`));

/** A JSON object from raw `[key, value-as-JSON-text]` pairs, so values may be malformed on purpose. */
const objectText = (fields: [string, string][]) =>
  `{${fields.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;

/** Values no route expects, as raw JSON text (some of it not JSON at all). */
const nastyValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
  // Any code points, lone surrogates included (JSON.stringify escapes them).
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 64 }).map((s) => JSON.stringify(s)) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 64 }).map((s) => JSON.stringify(s)) },
  // Long strings, about half of them past the 64 KiB body limit (413).
  { weight: 1, arbitrary: fc.integer({ min: 4000, max: 80_000 }).map((n) => JSON.stringify('ñ'.repeat(n))) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'NaN',
      'Infinity',
      '-Infinity',
      '1e999',
      '-1e999',
      '-0',
      '0x1F',
      '01',
      '1_000',
      '.5',
      '+1',
      'undefined',
      '"\\u0000"',
      '"\\ud800"',
      '"NaN"',
      '"-1"',
      '"1e3"',
      '"   "',
      '""',
    ),
  },
  {
    weight: 3,
    arbitrary: fc
      .constantFrom(-1, 0, 1.5, 2 ** 53 + 1, -(2 ** 31), 1e308, -1e308, Number.MIN_VALUE)
      .map(String),
  },
  { weight: 1, arbitrary: fc.double().map((d) => JSON.stringify(d)) },
  // Deep nesting, within the body limit.
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 30_000 }).map((d) => '['.repeat(d) + ']'.repeat(d)) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: 6000 }).map((d) => '{"a":'.repeat(d) + '1' + '}'.repeat(d)),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '{"__proto__":{"polluted":true}}',
      '{"constructor":{"prototype":{"polluted":true}}}',
      '{"prototype":{"polluted":true}}',
    ),
  },
);

/** The keys an operation's input has (its zod object shape). */
const inputKeys = (op: OperationName): string[] => {
  const input = OPERATIONS[op].input as unknown as { shape?: Record<string, unknown> };
  return input.shape ? Object.keys(input.shape) : [];
};

type Body = { text: string; kind: string };

/** Valid bodies of an operation, and the same with one field broken, added, or the whole thing mangled. */
function bodies(op: OperationName, valid: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Body> {
  const keys = inputKeys(op);
  const field = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...keys) },
    { weight: 2, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'extra', 'orgId') },
    { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
  );
  const entries = (o: Record<string, unknown>): [string, string][] =>
    Object.entries(o).map(([k, v]) => [k, JSON.stringify(v)]);
  return fc.oneof(
    { weight: 6, arbitrary: valid.map((o) => ({ text: JSON.stringify(o), kind: 'valid' })) },
    {
      weight: 8,
      arbitrary: fc.tuple(valid, field, nastyValue).map(([o, k, v]) => ({
        text: objectText([...entries(o).filter(([key]) => key !== k), [k, v]]),
        kind: `mutated ${k}`,
      })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(valid, fc.constantFrom(...keys)).map(([o, k]) => ({
        text: objectText(entries(o).filter(([key]) => key !== k)),
        kind: `missing ${k}`,
      })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(valid, fc.constantFrom(...keys), fc.jsonValue({ maxDepth: 1 }))
        .map(([o, k, v]) => ({
          // A duplicate key: the last one wins in JSON.parse.
          text: objectText([...entries(o), [k, JSON.stringify(v)]]),
          kind: `duplicate ${k}`,
        })),
    },
    { weight: 2, arbitrary: fc.jsonValue().map((v) => ({ text: JSON.stringify(v), kind: 'random json' })) },
    {
      weight: 2,
      arbitrary: fc.tuple(valid, fc.double({ min: 0, max: 1, noNaN: true })).map(([o, at]) => {
        const text = JSON.stringify(o);
        return { text: text.slice(0, Math.floor(at * (text.length - 1))), kind: 'truncated' };
      }),
    },
    {
      weight: 1,
      arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((text) => ({ text, kind: 'garbage' })),
    },
  );
}

const encode = (s: string) => encodeURIComponent(s);

/** Query strings: valid ones, random pairs, and raw pieces a careless parser trips on. */
function queries(valid: fc.Arbitrary<Record<string, string>>): fc.Arbitrary<string> {
  const key = fc.oneof(
    fc.constantFrom(
      'limit',
      'cursor',
      'queue',
      'resolved',
      'key',
      'id',
      '__proto__',
      'constructor',
      'limit[]',
    ),
    fc.string({ unit: 'grapheme', maxLength: 12 }),
  );
  const value = fc.oneof(
    fc.constantFrom(
      '-1',
      '0',
      '1e2',
      'NaN',
      'Infinity',
      '',
      '201',
      '501',
      '1.5',
      'true',
      'null',
      'x'.repeat(300),
    ),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.base64String({ maxLength: 60 }),
  );
  const raw = fc.constantFrom(
    '%',
    '%zz',
    '%E0%A4%A',
    'limit=%00',
    '__proto__[polluted]=1',
    'constructor[prototype][polluted]=1',
    'limit=1&limit=2',
    '&&&==',
    'a[b][c][d][e]=1',
  );
  return fc.oneof(
    { weight: 3, arbitrary: valid.map((q) => new URLSearchParams(q).toString()) },
    { weight: 1, arbitrary: fc.constant('') },
    {
      weight: 4,
      arbitrary: fc
        .array(fc.tuple(key, value), { maxLength: 5 })
        .map((pairs) => pairs.map(([k, v]) => `${encode(k)}=${encode(v)}`).join('&')),
    },
    { weight: 2, arbitrary: raw },
  );
}

interface Fixture {
  free: TestOrg;
  starter: TestOrg;
  partner: TestOrg;
  session: string;
  revokedKey: string;
  ids: string[];
  cursors: string[];
  idempotencyKeys: string[];
}

/** Orgs, keys and rows for the requests to name: each org on its own plan, real ids to poke at. */
async function makeFixture(): Promise<Fixture> {
  // A Free plan with 2 included messages: its org runs out of quota, then of credit, during the run.
  t.engine.db.sqlite.prepare(`UPDATE plans SET messages_included = 2 WHERE id = 'free'`).run();
  const free = await t.org({ plan: 'free', credits: '0.2' });
  const starter = await t.org({ plan: 'starter', credits: '3' });
  const partner = await t.org({ plan: 'partner', credits: '5', instances: 2 });
  const revoked = await t.org({ plan: 'starter' });
  t.engine.apiKeys.revoke(t.engine.apiKeys.list(revoked.orgId)[0]!.id);
  const send = (org: TestOrg) =>
    t.engine.call('whatsapp:send', { instanceId: 'auto', to: '5215512345678', text: 'Hola' }, org.apiKey);
  const messages = [await send(starter), await send(partner), await send(free)];
  const runs = [
    await t.engine.call('agents:run', { prompt: 'hola' }, starter.apiKey),
    await t.engine.call('agents:run', { prompt: 'hola' }, partner.apiKey),
  ];
  // A dead letter of the starter org; its worker stops before the fuzz, so nothing else is processed.
  const dying = await send(starter);
  const dead = new Promise<string>((resolve) => {
    const off = t.engine.events.on((e) => {
      if (e.type === 'job.dead' && e.jobId === dying.jobId) {
        off();
        resolve(e.deadLetterId);
      }
    });
  });
  const worker = t.engine.queue.process('whatsapp.send', async () => {
    throw new UnrecoverableError('number not on WhatsApp');
  });
  const deadLetterId = await dead;
  await worker.close(0);
  const page = await t.engine.call('billing:transactions', { limit: '1' }, starter.apiKey);
  return {
    free,
    starter,
    partner,
    session: t.engine.sessions.issue(partner.orgId),
    revokedKey: revoked.apiKey,
    ids: [
      ...messages.map((m) => m.messageId),
      ...runs.map((r) => r.runId),
      ...partner.instanceIds,
      deadLetterId,
      '1',
    ],
    // A real cursor, a well-formed one pointing nowhere ("1000|x"), a forged one ("nope").
    cursors: [page.nextCursor ?? 'MTAwMHx4', 'MTAwMHx4', 'bm9wZQ'],
    idempotencyKeys: Array.from({ length: 6 }, () => randomUUID()),
  };
}

function requests(f: Fixture): fc.Arbitrary<FuzzRequest> {
  const keys = [f.free.apiKey, f.starter.apiKey, f.partner.apiKey, f.session];
  const auth = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...keys).map((k) => ({ authorization: `Bearer ${k}` })) },
    { weight: 2, arbitrary: fc.constantFrom(...keys).map((k) => ({ 'x-api-key': k })) },
    {
      weight: 2,
      arbitrary: fc.constantFrom<Record<string, string>>(
        {},
        { authorization: 'Bearer ' },
        { authorization: `Bearer ${f.revokedKey}` },
        { 'x-api-key': f.revokedKey },
        { authorization: `Bearer ${f.starter.apiKey.slice(0, -1)}x` },
        { authorization: `Bearer ads_${'0'.repeat(43)}` },
        { authorization: `bearer ${f.starter.apiKey}` },
        { authorization: `Basic ${f.starter.apiKey}` },
      ),
    },
    { weight: 1, arbitrary: headerText(80).map((s) => ({ authorization: `Bearer ${s}` })) },
  );
  const contentType = fc.oneof(
    { weight: 12, arbitrary: fc.constant('application/json') },
    {
      weight: 4,
      arbitrary: fc.constantFrom(
        'application/json; charset=utf-8',
        'APPLICATION/JSON',
        'application/json; charset=latin1',
        'text/plain',
        'text/plain; charset=utf-8',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/xml',
        'application/jsonx',
        'application/vnd.api+json',
        '',
        ';',
        '*/*',
      ),
    },
    { weight: 1, arbitrary: headerText(40) },
  );
  const idempotencyHeader = fc.oneof(
    { weight: 10, arbitrary: fc.constant<Record<string, string>>({}) },
    {
      weight: 3,
      arbitrary: fc.constantFrom(...f.idempotencyKeys).map((k) => ({ 'idempotency-key': k })),
    },
    { weight: 1, arbitrary: fc.uuid().map((k) => ({ 'idempotency-key': k })) },
    { weight: 1, arbitrary: headerText(60).map((k) => ({ 'idempotency-key': k })) },
    { weight: 1, arbitrary: fc.constant({ 'idempotency-key': 'k'.repeat(8000) }) },
  );
  // Mostly what a well-behaved client sends, so that enough requests get far enough to be accepted.
  const clean = fc
    .tuple(
      fc.constantFrom(...keys),
      fc.oneof(
        { weight: 4, arbitrary: fc.constant(null) },
        { weight: 1, arbitrary: fc.constantFrom(...f.idempotencyKeys) },
      ),
    )
    .map(([k, i]) => ({
      authorization: `Bearer ${k}`,
      'content-type': 'application/json',
      ...(i === null ? {} : { 'idempotency-key': i }),
    }));
  const fuzzed = fc
    .tuple(auth, idempotencyHeader, fc.option(contentType, { freq: 10 }))
    .map(([a, i, ct]) => ({ ...a, ...i, ...(ct === null ? {} : { 'content-type': ct }) }));
  const headers = fc.oneof({ weight: 2, arbitrary: clean }, { weight: 3, arbitrary: fuzzed });

  // A few shared keys (replays and clashes across operations and orgs) and fresh ones.
  const idempotencyKey = fc.oneof(fc.constantFrom(...f.idempotencyKeys), fc.uuid(), fc.uuid());
  const text = (max: number) => fc.string({ unit: 'grapheme', minLength: 1, maxLength: max });
  const validBodies: Partial<Record<OperationName, fc.Arbitrary<Record<string, unknown>>>> = {
    'whatsapp:send': fc.record(
      {
        instanceId: fc.oneof(
          { weight: 4, arbitrary: fc.constant('auto') },
          { weight: 1, arbitrary: fc.constantFrom(...f.partner.instanceIds, ...f.starter.instanceIds) },
        ),
        to: fc.stringMatching(/^\d{10,15}$/),
        text: text(300),
        priority: fc.constantFrom('high', 'normal', 'low'),
        idempotencyKey,
      },
      { requiredKeys: ['instanceId', 'to', 'text'] },
    ),
    'whatsapp:addInstance': fc.record(
      {
        name: text(100),
        evolutionInstance: text(100),
        warmupDay: fc.integer({ min: 1, max: 365 }),
        idempotencyKey,
      },
      { requiredKeys: ['name', 'evolutionInstance'] },
    ),
    'agents:run': fc.record(
      {
        prompt: text(500),
        model: text(200),
        maxSteps: fc.integer({ min: 1, max: 100 }),
        timeoutS: fc.integer({ min: 5, max: 3600 }),
        idempotencyKey,
      },
      { requiredKeys: ['prompt'] },
    ),
    'branding:set': fc.record(
      {
        name: text(60),
        accentColor: fc.stringMatching(/^#[0-9a-fA-F]{6}$/),
        logo: fc.constantFrom(null, 'data:image/png;base64,iVBORw0KGgo='),
      },
      { requiredKeys: ['name', 'accentColor'] },
    ),
  };
  const validQueries: Partial<Record<OperationName, fc.Arbitrary<Record<string, string>>>> = {
    'billing:transactions': fc.record(
      { limit: fc.integer({ min: 1, max: 200 }).map(String), cursor: fc.constantFrom(...f.cursors) },
      { requiredKeys: [] },
    ),
    'compliance:alerts': fc.record(
      { limit: fc.integer({ min: 1, max: 200 }).map(String), cursor: fc.constantFrom(...f.cursors) },
      { requiredKeys: [] },
    ),
    'dlq:list': fc.record(
      {
        queue: fc.constantFrom('whatsapp.send', 'agent.run', 'Nope'),
        resolved: fc.constantFrom('true', 'false'),
        limit: fc.integer({ min: 1, max: 500 }).map(String),
        cursor: fc.constantFrom(...f.cursors),
      },
      { requiredKeys: [] },
    ),
  };
  const id = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...f.ids) },
    { weight: 1, arbitrary: fc.uuid() },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 250 }).map(encode) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '%',
        '%zz',
        '..',
        '%2F',
        '%2e%2e',
        'a%00b',
        '%C0%AF',
        '%20',
        'x'.repeat(201),
        '__proto__',
      ),
    },
  );

  const perOperation = (Object.keys(OPERATIONS) as OperationName[]).map((op) => {
    const { method, path } = OPERATIONS[op];
    const withId = path.includes('/:id') ? id.map((i) => path.replace(':id', i)) : fc.constant(path);
    const body =
      method === 'POST'
        ? bodies(op, validBodies[op] ?? fc.constant({}))
        : fc.oneof(
            { weight: 9, arbitrary: fc.constant(null) },
            {
              weight: 1,
              arbitrary: fc.jsonValue().map((v) => ({ text: JSON.stringify(v), kind: 'GET body' })),
            },
          );
    // GETs take a query string; a POST gets one now and then, to be ignored.
    const query = fc
      .tuple(queries(validQueries[op] ?? fc.constant({})), fc.nat(3))
      .map(([q, n]) => (method === 'GET' || n === 0 ? q : ''));
    return fc.tuple(withId, query, body, headers).map(([p, q, b, h]): FuzzRequest => ({
      op,
      kind: b?.kind ?? 'no body',
      method,
      path: q === '' ? p : `${p}?${q}`,
      // A body without a content type, or a JSON one with no body at all.
      headers: b ? h : Object.fromEntries(Object.entries(h).filter(([k]) => k !== 'content-type')),
      ...(b ? { body: b.text } : {}),
    }));
  });
  // Methods no route takes, and routes that do not exist.
  const stray = fc
    .tuple(
      fc.oneof(
        fc.tuple(
          fc.constantFrom('PUT', 'DELETE', 'PATCH', 'OPTIONS'),
          fc.constantFrom(...Object.values(OPERATIONS).map((o) => o.path.replace(':id', '1'))),
        ),
        fc.tuple(
          fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'),
          fc.webPath().map((p) => `/nope${p.startsWith('/') ? '' : '/'}${p}`),
        ),
      ),
      headers,
      fc.option(nastyValue, { freq: 2 }),
    )
    .map(([[method, path], h, body]): FuzzRequest => ({
      kind: 'stray',
      method,
      path,
      headers: h,
      ...(body ? { body } : {}),
    }));
  return fc.oneof(...perOperation, stray);
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

const describeRequest = (r: FuzzRequest, a?: FuzzAnswer) =>
  `[${r.kind}] ${r.method} ${r.path.slice(0, 200)} headers=${JSON.stringify(r.headers).slice(0, 300)} ` +
  `body=${JSON.stringify(r.body?.slice(0, 300))}${r.body && r.body.length > 300 ? `…(${r.body.length} chars)` : ''}` +
  (a ? ` -> ${a.status} ${a.text.slice(0, 300)}` : '');

const health: FuzzRequest = { kind: 'health', method: 'GET', path: '/health', headers: {} };

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/** Every string a 2xx answer names a row with. */
function collectIds(value: unknown, into: Set<string>): void {
  if (typeof value === 'string') into.add(value);
  else if (Array.isArray(value)) value.forEach((v) => collectIds(v, into));
  else if (value && typeof value === 'object') Object.values(value).forEach((v) => collectIds(v, into));
}

describe('API fuzz', () => {
  it(`survives ${RUNS} random and mutated requests (seed ${SEED}) without 5xx or a trace of the rejected ones`, async () => {
    const f = await makeFixture();
    const orgOf = new Map([
      [f.free.apiKey, f.free.orgId],
      [f.starter.apiKey, f.starter.orgId],
      [f.partner.apiKey, f.partner.orgId],
      [f.session, f.partner.orgId],
    ]);
    const rowsBefore = ownedRows();
    const entriesBefore = footprint().entries;
    const okIds = new Set<string>();
    const okResults = new Set<string>();
    const brandedOrgs = new Set<string>();
    const statuses = new Map<number, number>();
    let sent = 0;
    const started = performance.now();

    const check = async (req: FuzzRequest) => {
      if (sent % 500 === 0) {
        expect((await fire(health)).status).toBe(200);
      }
      const before = footprint();
      const a = await fire(req);
      sent++;
      statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
      const where = describeRequest(req, a);
      if (a.status >= 200 && a.status < 300) {
        expect(req.op, where).toBeDefined();
        const op = OPERATIONS[req.op!];
        expect(a.status, where).toBe(op.status);
        const out = op.output.safeParse(parseJson(a.text));
        expect(out.success, where).toBe(true);
        collectIds(out.data, okIds);
        okResults.add(canonicalJson(out.data));
        if (req.op === 'branding:set') {
          const key = req.headers.authorization?.slice(7) ?? req.headers['x-api-key'];
          brandedOrgs.add(orgOf.get(key!)!);
        }
        return;
      }
      const aiDown = a.status === 503 && req.op !== undefined && AI_ROUTES.has(req.op);
      expect(a.status < 500 || aiDown, `5xx: ${where}`).toBe(true);
      expect(a.contentType, where).toMatch(/^application\/json/);
      expect(a.text, where).not.toMatch(/"stack"|(\\n|\n)\s+at |\.(ts|js):\d+:\d+|node_modules|FST_ERR/);
      expect(ErrorBodySchema.safeParse(parseJson(a.text)).success, where).toBe(true);
      expect(footprint(), `a rejected request changed the database: ${where}`).toEqual(before);
    };

    try {
      await fc.assert(fc.asyncProperty(requests(f), check), {
        seed: SEED,
        numRuns: RUNS,
        endOnFailure: true,
      });
    } catch (err) {
      console.error(`API fuzz failed with FUZZ_SEED=${SEED} after ${sent} requests`);
      throw err;
    }
    const ms = performance.now() - started;
    console.info(
      `API fuzz: ${sent} requests in ${Math.round(ms)} ms (${Math.round((sent / ms) * 1000)}/s), seed ${SEED}; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`,
    );

    // Every row added during the run belongs to a 2xx answer; nothing was posted to the ledger.
    const rowsAfter = ownedRows();
    for (const [table, rows] of Object.entries(rowsAfter) as [keyof Owned, Set<string>][]) {
      const added = [...rows].filter((v) => !rowsBefore[table].has(v));
      const owner = table === 'branding' ? brandedOrgs : table === 'idempotency_keys' ? okResults : okIds;
      expect(
        added.filter((v) => !owner.has(v)),
        `${table} rows no 2xx answer accounts for`,
      ).toEqual([]);
    }
    expect(footprint().entries).toBe(entriesBefore);
    expect(t.engine.ledger.verify().ok).toBe(true);
    // Neither the JSON parser nor the query parser let a `__proto__` key reach Object.prototype.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((await fire(health)).status).toBe(200);
    // The run did exercise both sides: accepted work and every kind of refusal.
    for (const status of [200, 201, 202, 400, 401, 402, 403, 404, 409, 413, 415]) {
      expect(statuses.get(status) ?? 0, `no ${status} in the run`).toBeGreaterThan(0);
    }
  }, 60_000);
});
