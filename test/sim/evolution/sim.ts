import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as answer from './answers.ts';
import { signWebhookJwt } from './jwt.ts';

/*
 * A stand-in for Evolution API v2 (Baileys channel) that speaks its HTTP protocol and delivers its
 * webhooks, for tests. What it answers and why is in answers.ts; behaviour follows the v2.3 source.
 */

export type SimState = 'open' | 'connecting' | 'close';

export interface SimInstanceOptions {
  name: string;
  /** Default 'open'. */
  state?: SimState;
  /** The instance's own API key, accepted besides the global one (as auth.guard.ts does). */
  token?: string;
  /** The WhatsApp number the instance is logged in with (the webhooks' `sender`). */
  number?: string;
}

export interface SimWebhookConfig {
  url: string;
  /**
   * Sent with every delivery, like the `headers` of Evolution's webhook config: put the shared secret
   * here, or `jwt_key`, which Evolution swaps for `Authorization: Bearer <HS256 JWT>`.
   */
  headers?: Record<string, string>;
  /** Config names (MESSAGES_UPSERT, ...) to deliver; default the five the engine uses. */
  events?: string[];
}

export interface EvolutionSimOptions {
  /** The global API key (AUTHENTICATION_API_KEY). */
  apiKey?: string;
  instances?: (string | SimInstanceOptions)[];
  /** Numbers without a WhatsApp account. */
  notOnWhatsApp?: string[];
  webhook?: SimWebhookConfig;
  /** Stamps records, message timestamps and the webhook JWT's `iat`/`exp`; waits are real time. */
  now?: () => number;
}

/** What the next sends of an instance meet, in order. */
export type SendFault =
  /** 500 from Evolution, or 502/503/504 from the proxy in front of it. */
  | { type: 'server'; status?: 500 | 502 | 503 | 504 }
  /** WhatsApp refuses the relay with "rate-overlimit" (answered 400, as Evolution does). */
  | { type: 'rate-overlimit' }
  /** 429 from the proxy in front of Evolution. */
  | { type: 'too-many-requests' }
  /** Accepted (201), then WhatsApp's error ack (e.g. 463): MESSAGES_UPDATE with status ERROR. */
  | { type: 'error-ack' }
  /**
   * Sent, and its webhooks (SEND_MESSAGE, the acks) go out first: the HTTP answer comes `ms` later (a
   * slow way back to the caller), so the acks may arrive before the caller knows the message's id.
   */
  | { type: 'slow-answer'; ms: number };

export interface SimRequest {
  seq: number;
  at: number;
  method: string;
  path: string;
  /** The `apikey` header as received. */
  apikey: string | undefined;
  /** The HTTP status answered (0 while in flight). */
  status: number;
}
export interface SimSend {
  seq: number;
  /** When the message went out, after the requested `delay`. */
  at: number;
  instance: string;
  number: string;
  text: string;
  delay: number | undefined;
  linkPreview: boolean | undefined;
  id: string;
  /** The last ack delivered for it. */
  ack: 'DELIVERY_ACK' | 'ERROR';
}
export interface SimPresence {
  seq: number;
  /** When the request arrived. */
  at: number;
  instance: string;
  number: string;
  presence: string;
  delay: number;
}
export interface SimDelivery {
  seq: number;
  at: number;
  /** The wire name, e.g. `messages.update`. */
  event: string;
  instance: string;
  body: Record<string, unknown>;
  /** The receiver's HTTP status, or the error met. */
  status?: number;
  error?: string;
}

export interface EvolutionSim {
  url: string;
  apiKey: string;
  readonly requests: readonly SimRequest[];
  readonly sends: readonly SimSend[];
  readonly presences: readonly SimPresence[];
  readonly deliveries: readonly SimDelivery[];
  addInstance(instance: string | SimInstanceOptions): void;
  state(instance: string): SimState;
  /** Changes the connection state and delivers CONNECTION_UPDATE. */
  setState(instance: string, state: SimState, statusReason?: number): void;
  /** WhatsApp closes the session for good (401 logged out, 403 forbidden); sends then fail. */
  ban(instance: string, statusReason: 401 | 403): void;
  scriptSends(instance: string, fault: SendFault, times?: number): void;
  /** Delay before answering any request (of one instance, or all). */
  setLatency(ms: number, instance?: string): void;
  setWebhook(config: SimWebhookConfig | undefined): void;
  addNotOnWhatsApp(...numbers: string[]): void;
  /** A contact writes to the instance: delivers MESSAGES_UPSERT; returns the message id. */
  receive(instance: string, msg: { from: string; text: string; pushName?: string }): string;
  /** A new QR code for pairing: state 'connecting' and QRCODE_UPDATED. */
  showQrCode(instance: string): void;
  /** Resolves when every webhook queued so far has been delivered (or has failed). */
  webhooksIdle(): Promise<void>;
  close(): Promise<void>;
}

/** src/api/types/wa.types.ts `Events`: config name -> the `event` written in the webhook body. */
const WIRE_EVENT = {
  QRCODE_UPDATED: 'qrcode.updated',
  CONNECTION_UPDATE: 'connection.update',
  STATUS_INSTANCE: 'status.instance',
  MESSAGES_UPSERT: 'messages.upsert',
  MESSAGES_UPDATE: 'messages.update',
  SEND_MESSAGE: 'send.message',
  LOGOUT_INSTANCE: 'logout.instance',
} as const;
type SimEvent = keyof typeof WIRE_EVENT;

const DEFAULT_EVENTS: SimEvent[] = [
  'MESSAGES_UPSERT',
  'MESSAGES_UPDATE',
  'SEND_MESSAGE',
  'CONNECTION_UPDATE',
  'QRCODE_UPDATED',
];
const DELIVERY_TIMEOUT_MS = 5_000;
const MAX_BODY = 1 << 20;

interface Instance {
  id: string;
  name: string;
  state: SimState;
  token: string | undefined;
  number: string;
  createdAt: string;
  disconnection: { code: number; at: string } | undefined;
  faults: Exclude<SendFault, { type: 'error-ack' }>[];
  errorAcks: number;
}

type Route =
  | { op: 'sendText' | 'sendPresence' | 'whatsappNumbers' | 'connectionState'; instance: string }
  | { op: 'fetchInstances' };

const ROUTES: { method: string; prefix: string; op: Route['op'] }[] = [
  { method: 'POST', prefix: '/message/sendText/', op: 'sendText' },
  { method: 'POST', prefix: '/chat/sendPresence/', op: 'sendPresence' },
  { method: 'POST', prefix: '/chat/whatsappNumbers/', op: 'whatsappNumbers' },
  { method: 'GET', prefix: '/instance/connectionState/', op: 'connectionState' },
];

function route(method: string, path: string): Route | undefined {
  if (method === 'GET' && path === '/instance/fetchInstances') return { op: 'fetchInstances' };
  for (const r of ROUTES) {
    const rest = path.slice(r.prefix.length);
    if (method === r.method && path.startsWith(r.prefix) && rest && !rest.includes('/')) {
      return { op: r.op as Exclude<Route['op'], 'fetchInstances'>, instance: decodeURIComponent(rest) };
    }
  }
  return undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

type Rule = ({ type: 'string' | 'integer' | 'number' | 'boolean' } | { enum: readonly string[] }) & {
  description?: string;
};

/**
 * Checks a body as the route's JSON schema (src/validate) does; a failed property answers its
 * schema's `description` when it has one, else jsonschema's wording.
 */
function schemaErrors(
  body: Record<string, unknown>,
  rules: Record<string, Rule>,
  required: string[],
): string[] {
  const errors = required
    .filter((k) => body[k] === undefined)
    .map((k) => `instance requires property "${k}"`);
  for (const [key, rule] of Object.entries(rules)) {
    const v = body[key];
    if (v === undefined) continue;
    if ('enum' in rule) {
      if (!rule.enum.includes(v as string))
        errors.push(`${key} is not one of enum values: ${rule.enum.join(',')}`);
      continue;
    }
    const ok = rule.type === 'integer' ? Number.isInteger(v) : typeof v === rule.type;
    if (!ok) errors.push(rule.description ?? `${key} is not of a type(s) ${rule.type}`);
  }
  return errors;
}

// src/validate/message.schema.ts textMessageSchema and chat.schema.ts presenceSchema.
const NUMBER: Rule = { type: 'string', description: 'Invalid format' };
const TEXT_RULES: Record<string, Rule> = {
  number: NUMBER,
  text: { type: 'string' },
  delay: { type: 'integer', description: 'Enter a value in milliseconds' },
  linkPreview: { type: 'boolean' },
};
const PRESENCE_RULES: Record<string, Rule> = {
  number: NUMBER,
  delay: { type: 'number' },
  presence: { enum: ['unavailable', 'available', 'composing', 'recording', 'paused'] },
};

export async function startEvolutionSim(opts: EvolutionSimOptions = {}): Promise<EvolutionSim> {
  const apiKey = opts.apiKey ?? 'sim-global-api-key';
  const now = opts.now ?? Date.now;
  const instances = new Map<string, Instance>();
  const notOnWhatsApp = new Set((opts.notOnWhatsApp ?? []).map(answer.digitsOf));
  let defaultLatency = 0;
  const latency = new Map<string, number>();
  let webhook = opts.webhook;
  let seq = 0;
  const requests: SimRequest[] = [];
  const sends: SimSend[] = [];
  const presences: SimPresence[] = [];
  const deliveries: SimDelivery[] = [];
  let deliveryChain: Promise<void> = Promise.resolve();
  const stopping = new AbortController();
  const sleeping = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (ms <= 0) return resolve();
      const entry = {
        timer: setTimeout(() => entry.wake(), ms),
        wake: () => {
          clearTimeout(entry.timer);
          sleeping.delete(entry);
          resolve();
        },
      };
      sleeping.add(entry);
    });

  function addInstance(spec: string | SimInstanceOptions) {
    const o = typeof spec === 'string' ? { name: spec } : spec;
    instances.set(o.name, {
      id: answer.rowId(),
      name: o.name,
      state: o.state ?? 'open',
      token: o.token,
      number: answer.digitsOf(o.number ?? `5511900${String(instances.size).padStart(6, '0')}`),
      createdAt: new Date(now()).toISOString(),
      disconnection: undefined,
      faults: [],
      errorAcks: 0,
    });
  }
  for (const spec of opts.instances ?? []) addInstance(spec);

  function get(name: string): Instance {
    const inst = instances.get(name);
    if (!inst) throw new Error(`evolution sim: no instance "${name}"`);
    return inst;
  }

  // --- webhooks (webhook.controller.ts emit()) -------------------------------------------------

  function emit(inst: Instance, event: SimEvent, data: unknown) {
    const config = webhook;
    if (!config || !(config.events ?? DEFAULT_EVENTS).includes(event)) return;
    const at = now();
    const body = {
      event: WIRE_EVENT[event],
      instance: inst.name,
      data,
      destination: config.url,
      date_time: answer.localIsoTime(at),
      sender: `${inst.number}@s.whatsapp.net`,
      server_url: sim.url,
      apikey: null,
    };
    const { jwt_key: jwtKey, ...headers } = config.headers ?? {};
    if (jwtKey !== undefined) headers['Authorization'] = `Bearer ${signWebhookJwt(jwtKey, at)}`;
    const record: SimDelivery = { seq: ++seq, at, event: body.event, instance: inst.name, body };
    deliveries.push(record);
    // One after the other, so the receiver sees them in the order they happened.
    deliveryChain = deliveryChain.then(async () => {
      try {
        const res = await fetch(config.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify(body),
          signal: AbortSignal.any([stopping.signal, AbortSignal.timeout(DELIVERY_TIMEOUT_MS)]),
        });
        await res.arrayBuffer();
        record.status = res.status;
      } catch (err) {
        record.error = err instanceof Error ? err.message : String(err);
      }
    });
  }

  function messageUpdate(inst: Instance, send: SimSend, status: 'SERVER_ACK' | 'DELIVERY_ACK' | 'ERROR') {
    emit(inst, 'MESSAGES_UPDATE', {
      keyId: send.id,
      remoteJid: answer.jidOf(send.number),
      fromMe: true,
      status,
      instanceId: inst.id,
      // The stored row's id, not WhatsApp's: receivers must use keyId.
      messageId: answer.rowId(),
    });
  }

  function setState(name: string, state: SimState, statusReason = 200) {
    const inst = get(name);
    inst.state = state;
    const data =
      state === 'open'
        ? {
            instance: name,
            wuid: `${inst.number}@s.whatsapp.net`,
            profileName: name,
            profilePictureUrl: null,
            state,
            statusReason,
          }
        : { instance: name, state, statusReason };
    emit(inst, 'CONNECTION_UPDATE', data);
  }

  // --- HTTP --------------------------------------------------------------------------------------

  async function handle(req: IncomingMessage, res: ServerResponse, record: SimRequest) {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://sim');
    const raw = await readBody(req);
    let body: unknown = {};
    if (raw.trim() !== '') {
      try {
        body = JSON.parse(raw);
      } catch (err) {
        return send(res, record, answer.unparseableJson((err as Error).message));
      }
    }
    if (method === 'GET' && url.pathname === '/') {
      return send(res, record, answer.welcome(req.headers.host ?? 'localhost'));
    }
    const r = route(method, url.pathname);
    if (!r) return send(res, record, answer.noRoute(method, req.url ?? '/'));
    await sleep((r.op === 'fetchInstances' ? undefined : latency.get(r.instance)) ?? defaultLatency);
    if (stopping.signal.aborted) return;

    const key = record.apikey;
    if (r.op === 'fetchInstances') {
      if (key === apiKey) return send(res, record, { status: 200, body: [...instances.values()].map(row) });
      const own = [...instances.values()].filter((i) => i.token !== undefined && i.token === key);
      return send(res, record, own.length ? { status: 200, body: own.map(row) } : answer.unauthorized());
    }
    const inst = instances.get(r.instance);
    if (!inst) return send(res, record, answer.unknownInstance(r.instance));
    if (key === undefined || (key !== apiKey && key !== inst.token))
      return send(res, record, answer.unauthorized());
    const b = isRecord(body) ? body : {};

    switch (r.op) {
      case 'connectionState':
        return send(res, record, {
          status: 200,
          body: { instance: { instanceName: inst.name, state: inst.state } },
        });
      case 'whatsappNumbers': {
        const numbers = b.numbers;
        if (!Array.isArray(numbers) || numbers.length === 0 || !numbers.every((n) => typeof n === 'string')) {
          return send(
            res,
            record,
            answer.unwrappedBadRequest('"numbers" must be an array of numeric strings'),
          );
        }
        if (inst.state !== 'open') return send(res, record, answer.boomConnectionClosed());
        const list = (numbers as string[]).map((n) => ({
          jid: answer.jidOf(n),
          exists: !notOnWhatsApp.has(answer.digitsOf(n)),
          number: n,
        }));
        return send(res, record, { status: 200, body: list });
      }
      case 'sendPresence':
        return sendPresence(res, record, inst, b);
      case 'sendText':
        return sendText(res, record, inst, b);
    }
  }

  async function sendPresence(
    res: ServerResponse,
    record: SimRequest,
    inst: Instance,
    b: Record<string, unknown>,
  ) {
    const errors = schemaErrors(b, PRESENCE_RULES, ['number', 'presence', 'delay']);
    if (errors.length) return send(res, record, answer.badRequest(...errors));
    const at = now();
    if (inst.state !== 'open') return send(res, record, answer.caughtError('Connection Closed'));
    const number = b.number as string;
    if (notOnWhatsApp.has(answer.digitsOf(number))) return send(res, record, answer.presenceNotOnWhatsApp());
    const delay = b.delay as number;
    presences.push({ seq: ++seq, at, instance: inst.name, number, presence: b.presence as string, delay });
    await sleep(delay);
    if (stopping.signal.aborted) return;
    return send(res, record, { status: 201, body: { presence: b.presence } });
  }

  async function sendText(
    res: ServerResponse,
    record: SimRequest,
    inst: Instance,
    b: Record<string, unknown>,
  ) {
    const errors = schemaErrors(b, TEXT_RULES, ['number', 'text']);
    if (errors.length) return send(res, record, answer.badRequest(...errors));
    const text = b.text as string;
    if (text.trim() === '') return send(res, record, answer.badRequest('Text is required'));
    if (inst.state !== 'open') return send(res, record, answer.connectionClosed());
    const fault = inst.faults.shift();
    if (fault?.type === 'server') {
      const status = fault.status ?? 500;
      return send(res, record, status === 500 ? answer.internalError() : answer.proxyPage(status));
    }
    if (fault?.type === 'too-many-requests') return send(res, record, answer.proxyPage(429));
    if (fault?.type === 'rate-overlimit') return send(res, record, answer.caughtError('rate-overlimit'));
    const number = b.number as string;
    if (notOnWhatsApp.has(answer.digitsOf(number))) {
      return send(res, record, answer.notOnWhatsApp(answer.jidOf(number), number));
    }
    const delay = b.delay as number | undefined;
    await sleep(delay ?? 0);
    if (stopping.signal.aborted) return;

    const at = now();
    const errorAck = inst.errorAcks > 0;
    if (errorAck) inst.errorAcks--;
    const sent: SimSend = {
      seq: ++seq,
      at,
      instance: inst.name,
      number,
      text,
      delay,
      linkPreview: b.linkPreview as boolean | undefined,
      id: answer.outgoingMessageId(),
      ack: errorAck ? 'ERROR' : 'DELIVERY_ACK',
    };
    sends.push(sent);
    // prepareMessage(): extendedTextMessage folded into `conversation`, Long timestamp -> number.
    const message = {
      key: { remoteJid: answer.jidOf(number), fromMe: true, id: sent.id },
      pushName: 'Você',
      status: 'PENDING',
      message: { conversation: text },
      contextInfo: { mentionedJid: [], groupMentions: [], disappearingMode: { initiator: 0 } },
      messageType: 'conversation',
      messageTimestamp: Math.floor(at / 1000),
      instanceId: inst.id,
      source: 'web',
    };
    const slowAnswer = fault?.type === 'slow-answer' ? fault.ms : undefined;
    if (slowAnswer === undefined) send(res, record, { status: 201, body: message });
    emit(inst, 'SEND_MESSAGE', message);
    // A 463-style refusal comes back as the server's ack itself, so there is no SERVER_ACK before it.
    if (errorAck) messageUpdate(inst, sent, 'ERROR');
    else {
      messageUpdate(inst, sent, 'SERVER_ACK');
      messageUpdate(inst, sent, 'DELIVERY_ACK');
    }
    if (slowAnswer === undefined) return;
    await sleep(slowAnswer);
    if (!stopping.signal.aborted) send(res, record, { status: 201, body: message });
  }

  function row(inst: Instance) {
    return {
      id: inst.id,
      name: inst.name,
      connectionStatus: inst.state,
      ownerJid: `${inst.number}@s.whatsapp.net`,
      profileName: inst.name,
      profilePicUrl: null,
      integration: 'WHATSAPP-BAILEYS',
      number: null,
      businessId: null,
      token: inst.token ?? null,
      clientName: 'evolution_exchange',
      disconnectionReasonCode: inst.disconnection?.code ?? null,
      disconnectionObject: null,
      disconnectionAt: inst.disconnection?.at ?? null,
      createdAt: inst.createdAt,
      updatedAt: inst.createdAt,
      Chatwoot: null,
      Proxy: null,
      Rabbitmq: null,
      Nats: null,
      Sqs: null,
      Websocket: null,
      Setting: null,
      _count: { Message: sends.filter((s) => s.instance === inst.name).length, Contact: 0, Chat: 0 },
    };
  }

  function send(res: ServerResponse, record: SimRequest, a: answer.Answer) {
    record.status = a.status;
    const payload = a.html ? String(a.body) : JSON.stringify(a.body);
    res.writeHead(a.status, {
      'content-type': a.html ? 'text/html' : 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(payload),
    });
    res.end(payload);
  }

  const server = createServer((req, res) => {
    const apikey = req.headers['apikey'];
    const record: SimRequest = {
      seq: ++seq,
      at: now(),
      method: req.method ?? 'GET',
      path: new URL(req.url ?? '/', 'http://sim').pathname,
      apikey: Array.isArray(apikey) ? apikey[0] : apikey,
      status: 0,
    };
    requests.push(record);
    handle(req, res, record).catch((err: unknown) => {
      if (!res.headersSent) send(res, record, answer.internalError());
      else res.destroy(err instanceof Error ? err : undefined);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const sim: EvolutionSim = {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    requests,
    sends,
    presences,
    deliveries,
    addInstance,
    state: (name) => get(name).state,
    setState,
    ban(name, statusReason) {
      const inst = get(name);
      const at = new Date(now()).toISOString();
      inst.disconnection = { code: statusReason, at };
      // connectionUpdate() for a code it will not reconnect on: STATUS_INSTANCE, the logout, then the close.
      emit(inst, 'STATUS_INSTANCE', {
        instance: name,
        status: 'closed',
        disconnectionAt: at,
        disconnectionReasonCode: statusReason,
        disconnectionObject: JSON.stringify({ error: { output: { statusCode: statusReason } } }),
      });
      emit(inst, 'LOGOUT_INSTANCE', null);
      setState(name, 'close', statusReason);
    },
    scriptSends(name, fault, times = 1) {
      const inst = get(name);
      for (let i = 0; i < times; i++) {
        if (fault.type === 'error-ack') inst.errorAcks++;
        else inst.faults.push(fault);
      }
    },
    setLatency(ms, name) {
      if (name === undefined) defaultLatency = ms;
      else latency.set(name, ms);
    },
    setWebhook: (config) => void (webhook = config),
    addNotOnWhatsApp: (...numbers) => numbers.forEach((n) => notOnWhatsApp.add(answer.digitsOf(n))),
    receive(name, msg) {
      const inst = get(name);
      const id = answer.incomingMessageId();
      emit(inst, 'MESSAGES_UPSERT', {
        key: { remoteJid: answer.jidOf(msg.from), fromMe: false, id },
        pushName: msg.pushName ?? null,
        status: 'DELIVERY_ACK',
        message: { conversation: msg.text },
        contextInfo: null,
        messageType: 'conversation',
        messageTimestamp: Math.floor(now() / 1000),
        instanceId: inst.id,
        source: 'android',
      });
      return id;
    },
    showQrCode(name) {
      const inst = get(name);
      inst.state = 'connecting';
      const code = `2@${answer.incomingMessageId()},${answer.incomingMessageId()}`;
      emit(inst, 'QRCODE_UPDATED', {
        qrcode: {
          instance: name,
          pairingCode: null,
          code,
          base64: `data:image/png;base64,${Buffer.from(code).toString('base64')}`,
        },
      });
    },
    webhooksIdle: async () => {
      // Deliveries queued while waiting extend the chain: wait until it stops growing.
      let tail: Promise<void>;
      do {
        tail = deliveryChain;
        await tail;
      } while (tail !== deliveryChain);
    },
    async close() {
      stopping.abort();
      for (const s of [...sleeping]) s.wake();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await deliveryChain;
    },
  };
  return sim;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) req.destroy(new Error('body too large'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
