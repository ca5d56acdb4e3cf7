import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EvolutionWebhookEventSchema } from '../../contracts/evolution.ts';
import { parseWebhook } from './webhook.ts';

/** An envelope as webhook.controller.ts builds it. */
const envelope = (event: string, data: unknown) => ({
  event,
  instance: 'sales',
  data,
  destination: 'http://127.0.0.1:7420/webhooks/evolution',
  date_time: '2026-11-15T09:00:00.000Z',
  sender: '5511900000000@s.whatsapp.net',
  server_url: 'http://evolution:8080',
  apikey: null,
});

/** The MESSAGES_UPDATE data of whatsapp.baileys.service.ts; `messageId` is the stored row's id. */
const update = (status: unknown) => ({
  keyId: '3EB0C767D71D3D6E9A6F01',
  remoteJid: '5511987654321@s.whatsapp.net',
  fromMe: true,
  status,
  instanceId: 'cm4instance',
  messageId: 'cm4row',
});

describe('parseWebhook: messages.update', () => {
  it.each([
    ['SERVER_ACK', 'sent'],
    ['DELIVERY_ACK', 'delivered'],
    ['READ', 'read'],
    ['PLAYED', 'played'],
    ['ERROR', 'error'],
    ['PENDING', 'pending'],
    ['DELETED', 'deleted'],
    [0, 'error'],
    [2, 'sent'],
    [3, 'delivered'],
    [4, 'read'],
  ])('status %s -> %s, keyed by WhatsApp id', (status, expected) => {
    expect(parseWebhook(envelope('messages.update', update(status)))).toEqual({
      kind: 'message.status',
      instance: 'sales',
      messageId: '3EB0C767D71D3D6E9A6F01',
      remoteJid: '5511987654321@s.whatsapp.net',
      fromMe: true,
      status: expected,
    });
  });

  it("accepts Baileys' raw `{key, update}` shape and the config spelling of the event", () => {
    const raw = { key: { id: 'ABC', remoteJid: '1@s.whatsapp.net', fromMe: true }, update: { status: 3 } };
    expect(parseWebhook(envelope('MESSAGES_UPDATE', raw))).toMatchObject({
      kind: 'message.status',
      messageId: 'ABC',
      remoteJid: '1@s.whatsapp.net',
      fromMe: true,
      status: 'delivered',
    });
  });

  it('is invalid without an id or with an unknown status', () => {
    for (const data of [update('SOMETHING'), update(9), update(undefined), { status: 'READ' }]) {
      expect(parseWebhook(envelope('messages.update', data)).kind).toBe('invalid');
    }
  });
});

describe('parseWebhook: messages', () => {
  const inbound = {
    key: { remoteJid: '5511987654321@s.whatsapp.net', fromMe: false, id: 'A1B2C3D4E5F60718293A4B5C6D7E8F90' },
    pushName: 'Ana',
    status: 'DELIVERY_ACK',
    message: { conversation: 'Hola, ¿precio?', messageContextInfo: {} },
    contextInfo: null,
    messageType: 'conversation',
    messageTimestamp: 1_763_197_200,
    instanceId: 'cm4instance',
    source: 'android',
  };

  it('messages.upsert -> message.upsert with the text', () => {
    expect(parseWebhook(envelope('messages.upsert', inbound))).toEqual({
      kind: 'message.upsert',
      instance: 'sales',
      messageId: inbound.key.id,
      remoteJid: inbound.key.remoteJid,
      fromMe: false,
      pushName: 'Ana',
      messageType: 'conversation',
      text: 'Hola, ¿precio?',
      timestamp: 1_763_197_200,
    });
  });

  it('reads extendedTextMessage and string timestamps; media has no text', () => {
    const extended = {
      ...inbound,
      message: { extendedTextMessage: { text: 'link' } },
      messageTimestamp: '1717689097',
    };
    expect(parseWebhook(envelope('messages.upsert', extended))).toMatchObject({
      text: 'link',
      timestamp: 1717689097,
    });
    const image = { ...inbound, message: { imageMessage: { url: 'x' } }, messageType: 'imageMessage' };
    expect(parseWebhook(envelope('messages.upsert', image))).toMatchObject({
      text: null,
      messageType: 'imageMessage',
    });
    const odd = { ...inbound, message: { conversation: 5 }, messageTimestamp: 'soon' };
    expect(parseWebhook(envelope('messages.upsert', odd))).toMatchObject({ text: null, timestamp: null });
  });

  it('send.message -> message.sent', () => {
    const sent = { ...inbound, key: { ...inbound.key, fromMe: true, id: '3EB0AA' }, pushName: 'Você' };
    expect(parseWebhook(envelope('send.message', sent))).toEqual({
      kind: 'message.sent',
      instance: 'sales',
      messageId: '3EB0AA',
      remoteJid: inbound.key.remoteJid,
      text: 'Hola, ¿precio?',
    });
  });

  it('is invalid without a key', () => {
    expect(parseWebhook(envelope('messages.upsert', { message: { conversation: 'x' } })).kind).toBe(
      'invalid',
    );
  });
});

describe('parseWebhook: connection and QR code', () => {
  it.each<[{ state: string; statusReason?: number } & Record<string, unknown>, boolean]>([
    [{ instance: 'sales', state: 'close', statusReason: 401 }, true],
    [{ instance: 'sales', state: 'close', statusReason: 403 }, true],
    [{ instance: 'sales', state: 'close', statusReason: 402 }, true],
    [{ instance: 'sales', state: 'close', statusReason: 406 }, true],
    [{ instance: 'sales', state: 'close', statusReason: 428 }, false],
    [{ instance: 'sales', state: 'close' }, false],
    [{ instance: 'sales', state: 'connecting', statusReason: 200 }, false],
    [
      { instance: 'sales', wuid: '55119@s.whatsapp.net', profileName: 'S', state: 'open', statusReason: 200 },
      false,
    ],
    [{ instance: 'sales', state: 'refused', statusReason: 428 }, false],
  ])('connection.update %j -> banned %s', (data, banned) => {
    expect(parseWebhook(envelope('connection.update', data))).toEqual({
      kind: 'connection',
      instance: 'sales',
      state: data.state,
      statusReason: data.statusReason ?? null,
      banned,
    });
  });

  it('qrcode.updated -> the code, or the limit reached', () => {
    const qrcode = {
      instance: 'sales',
      pairingCode: null,
      code: '2@abc',
      base64: 'data:image/png;base64,AA',
    };
    expect(parseWebhook(envelope('qrcode.updated', { qrcode }))).toEqual({
      kind: 'qrcode',
      instance: 'sales',
      code: '2@abc',
      base64: 'data:image/png;base64,AA',
      pairingCode: null,
      limitReached: false,
    });
    const limit = { message: 'QR code limit reached, please login again', statusCode: 500 };
    expect(parseWebhook(envelope('QRCODE_UPDATED', limit))).toMatchObject({
      kind: 'qrcode',
      limitReached: true,
    });
    expect(parseWebhook(envelope('qrcode.updated', {})).kind).toBe('invalid');
  });
});

describe('parseWebhook: other input', () => {
  it('ignores events it does not handle, naming them', () => {
    expect(parseWebhook(envelope('presence.update', { id: 'x' }))).toEqual({
      kind: 'ignored',
      instance: 'sales',
      event: 'presence.update',
    });
    expect(parseWebhook(envelope('logout.instance', null))).toMatchObject({ kind: 'ignored' });
  });

  it('is invalid, with the reasons, when the envelope is not one', () => {
    const r = parseWebhook({ event: 'messages.update', data: {} });
    expect(r).toMatchObject({ kind: 'invalid', event: null });
    expect(r.kind === 'invalid' && r.issues.join()).toContain('instance');
    for (const garbage of [null, undefined, 42, 'x', [], {}])
      expect(parseWebhook(garbage).kind).toBe('invalid');
  });

  const known = ['messages.upsert', 'messages.update', 'send.message', 'connection.update', 'qrcode.updated'];
  const check = (value: unknown) => EvolutionWebhookEventSchema.safeParse(parseWebhook(value)).success;

  it('never throws on random values, and always answers one of its shapes', () => {
    fc.assert(fc.property(fc.anything({ withNullPrototype: true, withBigInt: true }), check), {
      numRuns: 300,
    });
  });

  it('never throws on envelopes of known events with random data', () => {
    const data = fc.oneof(
      fc.anything(),
      fc.record(
        { key: fc.anything(), keyId: fc.anything(), status: fc.anything(), state: fc.anything() },
        {
          requiredKeys: [],
        },
      ),
    );
    const body = fc.record({ event: fc.constantFrom(...known, 'X'), instance: fc.string(), data });
    fc.assert(fc.property(body, check), { numRuns: 300 });
  });
});
