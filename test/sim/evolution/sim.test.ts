import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createEvolutionClient,
  type EvolutionClient,
} from '../../../src-engine/gateways/evolution/client.ts';
import { parseWebhook } from '../../../src-engine/gateways/evolution/webhook.ts';
import {
  verifyWebhookAuth,
  WEBHOOK_SECRET_HEADER,
} from '../../../src-engine/gateways/evolution/webhook-auth.ts';
import { startWebhookListener, type WebhookListener } from './listener.ts';
import { startEvolutionSim, type EvolutionSim, type SimWebhookConfig } from './sim.ts';

const TO = '5511987654321';
let listener: WebhookListener;
let sim: EvolutionSim;
let client: EvolutionClient;

async function start(webhook: Partial<SimWebhookConfig> = {}) {
  sim = await startEvolutionSim({
    instances: ['sales', 'support'],
    webhook: { url: listener.url, ...webhook },
  });
  client = createEvolutionClient({ baseUrl: sim.url, apiKey: sim.apiKey, timeoutMs: 2_000 });
}

beforeEach(async () => {
  listener = await startWebhookListener();
});
afterEach(async () => {
  await sim.close();
  await listener.close();
});

const events = (n: number) => listener.waitFor(n).then((all) => all.map((r) => parseWebhook(r.body)));

describe('Evolution simulator: webhook delivery to a real listener', () => {
  it('delivers SEND_MESSAGE, then SERVER_ACK and DELIVERY_ACK, with Evolution’s JWT bearer', async () => {
    await start({ headers: { jwt_key: 'jwt-secret' } });
    const msg = await client.sendText('sales', { number: TO, text: 'Hola' });
    const received = await listener.waitFor(3);

    expect(received.map((r) => verifyWebhookAuth(r.headers, { jwtKey: 'jwt-secret' }))).toEqual([
      true,
      true,
      true,
    ]);
    expect(received.map((r) => verifyWebhookAuth(r.headers, { jwtKey: 'another-key' }))).toEqual([
      false,
      false,
      false,
    ]);
    expect(received[0]!.headers).not.toHaveProperty('jwt_key');
    expect(received[0]!.body).toMatchObject({
      event: 'send.message',
      instance: 'sales',
      destination: listener.url,
      server_url: sim.url,
      sender: expect.stringMatching(/@s\.whatsapp\.net$/),
      date_time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(received.map((r) => parseWebhook(r.body))).toEqual([
      {
        kind: 'message.sent',
        instance: 'sales',
        messageId: msg.key.id,
        remoteJid: `${TO}@s.whatsapp.net`,
        text: 'Hola',
      },
      expect.objectContaining({ kind: 'message.status', messageId: msg.key.id, status: 'sent' }),
      expect.objectContaining({ kind: 'message.status', messageId: msg.key.id, status: 'delivered' }),
    ]);
  });

  it('sends the shared secret header when the webhook config carries it', async () => {
    await start({ headers: { [WEBHOOK_SECRET_HEADER]: 'shh' } });
    sim.receive('support', { from: TO, text: '¿Precio?', pushName: 'Ana' });
    const [r] = await listener.waitFor(1);

    expect(verifyWebhookAuth(r!.headers, { secret: 'shh' })).toBe(true);
    expect(verifyWebhookAuth(r!.headers, { secret: 'other' })).toBe(false);
    expect(parseWebhook(r!.body)).toMatchObject({
      kind: 'message.upsert',
      instance: 'support',
      fromMe: false,
      pushName: 'Ana',
      text: '¿Precio?',
    });
  });

  it('answers a scripted error ack (463-style) with a lone ERROR status', async () => {
    await start();
    sim.scriptSends('sales', { type: 'error-ack' });
    const first = await client.sendText('sales', { number: TO, text: 'a' });
    const second = await client.sendText('sales', { number: TO, text: 'b' });
    const parsed = await events(5);

    const statuses = (id: string) =>
      parsed.flatMap((e) => (e.kind === 'message.status' && e.messageId === id ? [e.status] : []));
    expect(statuses(first.key.id)).toEqual(['error']);
    expect(statuses(second.key.id)).toEqual(['sent', 'delivered']);
    expect(sim.sends.map((s) => s.ack)).toEqual(['ERROR', 'DELIVERY_ACK']);
  });

  it('ban(401): CONNECTION_UPDATE close, and the instance stops sending like a closed Evolution session', async () => {
    await start();
    sim.ban('sales', 401);

    expect(await events(1)).toEqual([
      { kind: 'connection', instance: 'sales', state: 'close', statusReason: 401, banned: true },
    ]);
    await expect(client.sendText('sales', { number: TO, text: 'x' })).rejects.toMatchObject({
      kind: 'connection_closed',
    });
    expect(sim.state('sales')).toBe('close');
    const [sales] = await client.fetchInstances();
    expect(sales).toMatchObject({ name: 'sales', connectionStatus: 'close', disconnectionReasonCode: 401 });
    // The other instance is unaffected.
    await client.sendText('support', { number: TO, text: 'ok' });
    expect(sim.sends.map((s) => s.instance)).toEqual(['support']);
  });

  it('ban(403) with more events subscribed: status.instance and logout.instance come first, and are ignored', async () => {
    await start({ events: ['CONNECTION_UPDATE', 'STATUS_INSTANCE', 'LOGOUT_INSTANCE'] });
    sim.ban('support', 403);

    expect(await events(3)).toEqual([
      { kind: 'ignored', instance: 'support', event: 'status.instance' },
      { kind: 'ignored', instance: 'support', event: 'logout.instance' },
      { kind: 'connection', instance: 'support', state: 'close', statusReason: 403, banned: true },
    ]);
  });

  it('delivers a QR code, then the connection opening', async () => {
    await start();
    sim.showQrCode('sales');
    expect(sim.state('sales')).toBe('connecting');
    sim.setState('sales', 'open');

    expect(await events(2)).toEqual([
      expect.objectContaining({
        kind: 'qrcode',
        instance: 'sales',
        code: expect.stringMatching(/^2@/),
        limitReached: false,
      }),
      { kind: 'connection', instance: 'sales', state: 'open', statusReason: 200, banned: false },
    ]);
  });

  it('delivers only the subscribed events, and records what the receiver answered', async () => {
    await listener.close();
    listener = await startWebhookListener({ status: 500 });
    await start({ events: ['MESSAGES_UPDATE'] });
    await client.sendText('sales', { number: TO, text: 'x' });
    await sim.webhooksIdle();

    expect(sim.deliveries.map((d) => [d.event, d.status])).toEqual([
      ['messages.update', 500],
      ['messages.update', 500],
    ]);
    expect(listener.received).toHaveLength(2);
  });
});

describe('Evolution simulator: records and scripts', () => {
  it('records sends and presences in order, with their times', async () => {
    await start({ events: [] });
    const t0 = Date.now();
    await client.sendPresence('sales', { number: TO, presence: 'composing', delay: 30 });
    await client.sendText('sales', { number: TO, text: 'one', delay: 20 });
    await client.sendText('support', { number: TO, text: 'two' });

    const log = [...sim.presences, ...sim.sends].sort((a, b) => a.seq - b.seq);
    expect(log.map((r) => ('text' in r ? r.text : r.presence))).toEqual(['composing', 'one', 'two']);
    expect(log.map((r) => r.at)).toEqual([...log.map((r) => r.at)].sort((a, b) => a - b));
    // A send is stamped when it goes out, after its typing delay.
    expect(sim.sends[0]!.at - sim.presences[0]!.at).toBeGreaterThanOrEqual(45);
    expect(log[0]!.at).toBeGreaterThanOrEqual(t0);
  });

  it('consumes scripted faults one send at a time, per instance', async () => {
    await start({ events: [] });
    sim.scriptSends('sales', { type: 'server' }, 2);
    const attempt = () =>
      client.sendText('sales', { number: TO, text: 'x' }).then(
        () => 'ok',
        (e: { kind: string }) => e.kind,
      );

    expect(await client.sendText('support', { number: TO, text: 'y' })).toBeTruthy();
    expect([await attempt(), await attempt(), await attempt()]).toEqual(['server', 'server', 'ok']);
    expect(sim.requests.filter((r) => r.path === '/message/sendText/sales').map((r) => r.status)).toEqual([
      500, 500, 201,
    ]);
  });

  it('answers like Evolution to bad bodies and unknown routes', async () => {
    await start({ events: [] });
    const post = (path: string, body: string, apikey = sim.apiKey) =>
      fetch(sim.url + path, {
        method: 'POST',
        headers: { apikey, 'content-type': 'application/json' },
        body,
      }).then(async (r) => [r.status, await r.json()]);

    expect(await post('/message/sendText/sales', JSON.stringify({ number: TO, delay: 1.5 }))).toEqual([
      400,
      {
        status: 400,
        error: 'Bad Request',
        response: { message: ['instance requires property "text"', 'Enter a value in milliseconds'] },
      },
    ]);
    expect(
      await post('/chat/sendPresence/sales', JSON.stringify({ number: TO, presence: 'typing', delay: 1 })),
    ).toEqual([
      400,
      {
        status: 400,
        error: 'Bad Request',
        response: {
          message: ['presence is not one of enum values: unavailable,available,composing,recording,paused'],
        },
      },
    ]);
    expect(await post('/message/sendText/sales', '{oops')).toMatchObject([400, { status: 400 }]);
    expect(await post('/message/sendMedia/sales', '{}')).toEqual([
      404,
      { status: 404, error: 'Not Found', response: { message: ['Cannot POST /message/sendMedia/sales'] } },
    ]);
    expect(await post('/message/sendText/sales', '{}', '')).toEqual([
      401,
      { status: 401, error: 'Unauthorized', response: { message: 'Unauthorized' } },
    ]);
  });
});
