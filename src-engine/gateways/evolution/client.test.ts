import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startEvolutionSim, type EvolutionSim } from '../../../test/sim/evolution/sim.ts';
import { createLogger } from '../../logger.ts';
import { createEvolutionClient, type EvolutionClientOptions } from './client.ts';
import { EvolutionError, type EvolutionErrorKind } from './errors.ts';
import { rejectionOf } from '../../../test/support/rejection.ts';

const NOT_ON_WHATSAPP = '5511000000000';
let sim: EvolutionSim;

beforeEach(async () => {
  sim = await startEvolutionSim({
    instances: ['sales', { name: 'support', token: 'support-own-key' }],
    notOnWhatsApp: [NOT_ON_WHATSAPP],
  });
});
afterEach(() => sim.close());

const client = (o: Partial<EvolutionClientOptions> = {}) =>
  createEvolutionClient({ baseUrl: `${sim.url}/`, apiKey: sim.apiKey, timeoutMs: 2_000, ...o });

/** The EvolutionError a call fails with. */
const failure = (call: Promise<unknown>) => rejectionOf(call, EvolutionError);

function expectKind(err: EvolutionError, kind: EvolutionErrorKind, retryable: boolean, status?: number) {
  expect({
    kind: err.kind,
    retryable: err.retryable,
    permanent: err.permanent,
    status: err.httpStatus,
  }).toEqual({
    kind,
    retryable,
    permanent: !retryable,
    status,
  });
}

describe('Evolution client against the simulator', () => {
  it('sendText posts the flat body with the apikey header and answers the sent message', async () => {
    const msg = await client().sendText('sales', {
      number: '+55 11 98765-4321',
      text: 'Hola',
      linkPreview: false,
    });

    expect(msg.key).toMatchObject({ remoteJid: '5511987654321@s.whatsapp.net', fromMe: true });
    expect(msg.key.id).toMatch(/^3EB0[0-9A-F]{18}$/);
    expect(msg.message).toEqual({ conversation: 'Hola' });
    expect(sim.sends).toMatchObject([
      { instance: 'sales', number: '+55 11 98765-4321', text: 'Hola', linkPreview: false, id: msg.key.id },
    ]);
    expect(sim.requests).toMatchObject([
      { method: 'POST', path: '/message/sendText/sales', apikey: sim.apiKey, status: 201 },
    ]);
  });

  it('gives a send with `delay` that much more time than timeoutMs (Evolution holds the answer)', async () => {
    const started = performance.now();
    const msg = await client({ timeoutMs: 100 }).sendText('sales', {
      number: '5511911112222',
      text: 'hi',
      delay: 250,
    });

    expect(performance.now() - started).toBeGreaterThanOrEqual(240);
    expect(sim.sends[0]).toMatchObject({ id: msg.key.id, delay: 250 });
  });

  it('sendPresence shows the presence for `delay` ms', async () => {
    const started = performance.now();
    const answer = await client().sendPresence('sales', {
      number: '5511911112222',
      presence: 'composing',
      delay: 80,
    });

    expect(answer).toEqual({ presence: 'composing' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(75);
    expect(sim.presences).toMatchObject([{ instance: 'sales', presence: 'composing', delay: 80 }]);
  });

  it('reads connection states and lists instances without holding their own keys', async () => {
    const c = client();
    expect(await c.connectionState('sales')).toEqual({ instance: { instanceName: 'sales', state: 'open' } });

    const all = await c.fetchInstances();
    expect(all.map((i) => [i.name, i.connectionStatus])).toEqual([
      ['sales', 'open'],
      ['support', 'open'],
    ]);
    expect(all.every((i) => !('token' in i))).toBe(true);

    // An instance's own key lists only that instance (auth.guard.ts / fetchInstances).
    const own = await client({ apiKey: 'support-own-key' }).fetchInstances();
    expect(own.map((i) => i.name)).toEqual(['support']);
  });

  it('checks numbers with whatsappNumbers', async () => {
    expect(await client().whatsappNumbers('sales', ['5511911112222', NOT_ON_WHATSAPP])).toEqual([
      { exists: true, jid: '5511911112222@s.whatsapp.net', number: '5511911112222' },
      { exists: false, jid: `${NOT_ON_WHATSAPP}@s.whatsapp.net`, number: NOT_ON_WHATSAPP },
    ]);
  });

  it('accepts an instance key for its own instance and quotes instance names in paths', async () => {
    sim.addInstance('ventas norte');
    await client({ apiKey: 'support-own-key' }).sendText('support', { number: '5511911112222', text: 'a' });
    await client().sendText('ventas norte', { number: '5511911112222', text: 'b' });
    expect(sim.sends.map((s) => s.instance)).toEqual(['support', 'ventas norte']);
  });
});

describe('Evolution client: every failure is classified', () => {
  it('not_on_whatsapp: permanent, carries the number, nothing sent', async () => {
    const err = await failure(client().sendText('sales', { number: NOT_ON_WHATSAPP, text: 'hola' }));
    expectKind(err, 'not_on_whatsapp', false, 400);
    expect(err.number).toBe(NOT_ON_WHATSAPP);
    expect(err.message).toContain(`${NOT_ON_WHATSAPP} has no WhatsApp account`);
    // It is an AppError: what reaches a user of our API says what was wrong and with what.
    expect(err.toBody()).toEqual({
      error: 'VALIDATION_ERROR',
      message: err.message,
      details: { service: 'evolution', kind: 'not_on_whatsapp', httpStatus: 400, number: NOT_ON_WHATSAPP },
    });
    expect(sim.sends).toEqual([]);
  });

  it('unauthorized: a wrong key is permanent', async () => {
    const err = await failure(
      client({ apiKey: 'wrong' }).sendText('sales', { number: '5511911112222', text: 'x' }),
    );
    expectKind(err, 'unauthorized', false, 401);
    expectKind(await failure(client({ apiKey: 'wrong' }).fetchInstances()), 'unauthorized', false, 401);
    // Another instance's key does not open this one.
    const other = await failure(client({ apiKey: 'support-own-key' }).connectionState('sales'));
    expectKind(other, 'unauthorized', false, 401);
  });

  it('unknown_instance: 404 is permanent (checked before the key, as Evolution does)', async () => {
    expectKind(await failure(client().connectionState('nope')), 'unknown_instance', false, 404);
    const withBadKey = await failure(
      client({ apiKey: 'wrong' }).sendText('nope', { number: '1', text: 'x' }),
    );
    expectKind(withBadKey, 'unknown_instance', false, 404);
  });

  it('bad_request: other refusals are permanent and say why', async () => {
    const err = await failure(client().sendText('sales', { number: '5511911112222', text: '   ' }));
    expectKind(err, 'bad_request', false, 400);
    expect(err.message).toContain('Text is required');
  });

  it('rate_limited: rate-overlimit and 429 are retryable signs of restriction', async () => {
    sim.scriptSends('sales', { type: 'rate-overlimit' });
    sim.scriptSends('sales', { type: 'too-many-requests' });
    const c = client();
    const overlimit = await failure(c.sendText('sales', { number: '5511911112222', text: 'x' }));
    const tooMany = await failure(c.sendText('sales', { number: '5511911112222', text: 'x' }));

    expectKind(overlimit, 'rate_limited', true, 400);
    expectKind(tooMany, 'rate_limited', true, 429);
    expect([overlimit.restriction, tooMany.restriction]).toEqual([true, true]);
    expect(sim.sends).toEqual([]);
  });

  it('server: 500 from Evolution and 502/503 pages from its proxy are retryable', async () => {
    sim.scriptSends('sales', { type: 'server' });
    sim.scriptSends('sales', { type: 'server', status: 502 });
    sim.scriptSends('sales', { type: 'server', status: 503 });
    const c = client();
    for (const status of [500, 502, 503]) {
      const err = await failure(c.sendText('sales', { number: '5511911112222', text: 'x' }));
      expectKind(err, 'server', true, status);
      expect(err.restriction).toBe(false);
    }
    await c.sendText('sales', { number: '5511911112222', text: 'x' });
    expect(sim.sends).toHaveLength(1);
  });

  it('connection_closed: a closed WhatsApp session fails every call in its own way, all retryable', async () => {
    sim.ban('sales', 401);
    const c = client();
    const send = await failure(c.sendText('sales', { number: '5511911112222', text: 'x' }));
    const presence = await failure(
      c.sendPresence('sales', { number: '5511911112222', presence: 'composing', delay: 0 }),
    );
    const check = await failure(c.whatsappNumbers('sales', ['5511911112222']));

    expectKind(send, 'connection_closed', true, 500);
    expectKind(presence, 'connection_closed', true, 400);
    expectKind(check, 'connection_closed', true, 400);
    expect(await c.connectionState('sales')).toEqual({ instance: { instanceName: 'sales', state: 'close' } });
  });

  it('timeout: no answer within timeoutMs', async () => {
    sim.setLatency(1_000, 'sales');
    const started = performance.now();
    const err = await failure(client({ timeoutMs: 100 }).connectionState('sales'));

    expectKind(err, 'timeout', true);
    expect(performance.now() - started).toBeLessThan(800);
    // Latency is per instance here: the other one still answers at once.
    expect(await client({ timeoutMs: 100 }).connectionState('support')).toMatchObject({
      instance: { state: 'open' },
    });
  });

  it('network: nobody listening', async () => {
    const url = sim.url;
    await sim.close();
    sim = await startEvolutionSim();
    const err = await failure(
      createEvolutionClient({ baseUrl: url, apiKey: 'k', timeoutMs: 1_000 }).fetchInstances(),
    );
    expectKind(err, 'network', true);
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it('bad_response: a success that is not what Evolution sends is permanent (it may have taken effect)', async () => {
    const server = createServer((req, res) => {
      if (req.url?.startsWith('/message/sendText/'))
        res.writeHead(201, { 'content-type': 'text/html' }).end('<p>ok</p>');
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{"instance":{}}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const c = createEvolutionClient({ baseUrl, apiKey: 'k' });
      expectKind(await failure(c.sendText('a', { number: '1', text: 'x' })), 'bad_response', false, 201);
      expectKind(await failure(c.connectionState('a')), 'bad_response', false, 200);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('logs calls and failures without the API key', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const log = createLogger('engine', { level: 'debug', destination });
    const c = client({ log });
    await c.sendText('sales', { number: '5511911112222', text: 'x' });
    await failure(client({ log, apiKey: 'wrong-secret-key' }).fetchInstances());

    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(['evolution call', 'evolution call failed']);
    expect(JSON.parse(lines[1]!)).toMatchObject({ op: 'fetchInstances', kind: 'unauthorized', status: 401 });
    expect(lines.join('\n')).not.toContain(sim.apiKey);
    expect(lines.join('\n')).not.toContain('wrong-secret-key');
  });
});
