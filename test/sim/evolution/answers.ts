import { randomBytes } from 'node:crypto';

/*
 * Answers as Evolution API v2.3 gives them. Errors: src/exceptions/*.ts throw `{status, error, message}`
 * and the error handler in src/main.ts answers `{status, error, response: {message}}`.
 */

export interface Answer {
  status: number;
  body: unknown;
  /** Default JSON; proxies in front of Evolution answer 429/502/503/504 with HTML. */
  html?: boolean;
}

const wrapped = (status: number, error: string, message: unknown): Answer => ({
  status,
  body: { status, error, response: { message } },
});

export const badRequest = (...messages: unknown[]): Answer => wrapped(400, 'Bad Request', messages);

/** auth.guard.ts: missing or wrong `apikey`. */
export const unauthorized = (): Answer => wrapped(401, 'Unauthorized', 'Unauthorized');

/** instance.guard.ts runs before the key check, so an unknown instance is a 404 whatever the key. */
export const unknownInstance = (name: string): Answer =>
  wrapped(404, 'Not Found', [`The "${name}" instance does not exist`]);

/** index.router.ts: `GET /` answers without a key, for uptime checks. */
export const welcome = (host: string): Answer => ({
  status: 200,
  body: {
    status: 200,
    message: 'Welcome to the Evolution API, it is working!',
    version: '2.3.0',
    clientName: 'evolution_exchange',
    manager: `http://${host}/manager`,
    documentation: 'https://doc.evolution-api.com',
  },
});

/** main.ts' fallback for a route that does not exist. */
export const noRoute = (method: string, url: string): Answer =>
  wrapped(404, 'Not Found', [`Cannot ${method.toUpperCase()} ${url}`]);

/** express.json() failing: the handler has no `error` to copy, hence the odd label. */
export const unparseableJson = (message: string): Answer => wrapped(400, 'Internal Server Error', message);

/** sendMessageWithTyping() throws BadRequestException(isWA) outside its try: the OnWhatsAppDto survives. */
export const notOnWhatsApp = (jid: string, number: string): Answer =>
  badRequest({ jid, exists: false, number });

/**
 * A closed socket: onWhatsApp() throws Baileys' Boom "Connection Closed" outside any try, so it
 * reaches the error handler as is: 500, message a plain string (issues #1286, #1772).
 */
export const connectionClosed = (): Answer => wrapped(500, 'Internal Server Error', 'Connection Closed');

/** The same inside a try (sendPresence, the relay of a message): re-thrown as `Error: ...` with 400. */
export const caughtError = (message: string): Answer => badRequest(`Error: ${message}`);

/** whatsappNumbers' route answers its caught error as it is: a Boom error serialises to this. */
export const boomConnectionClosed = (): Answer => ({
  status: 400,
  body: {
    data: null,
    isBoom: true,
    isServer: false,
    output: {
      statusCode: 428,
      payload: { statusCode: 428, error: 'Precondition Required', message: 'Connection Closed' },
      headers: {},
    },
  },
});

/** whatsappNumbers' route also answers its validation errors unwrapped. */
export const unwrappedBadRequest = (...messages: unknown[]): Answer => ({
  status: 400,
  body: { status: 400, error: 'Bad Request', message: messages },
});

/** sendPresence re-throws BadRequestException(isWA) inside its try: `error.toString()` of an object. */
export const presenceNotOnWhatsApp = (): Answer => badRequest('[object Object]');

export const internalError = (): Answer => wrapped(500, 'Internal Server Error', 'Internal Server Error');

const PROXY_REASONS: Record<number, string> = {
  429: 'Too Many Requests',
  502: 'Bad Gateway',
  503: 'Service Temporarily Unavailable',
  504: 'Gateway Time-out',
};

/** What a reverse proxy in front of Evolution answers (nginx's default pages). */
export const proxyPage = (status: number): Answer => {
  const title = `${status} ${PROXY_REASONS[status] ?? 'Error'}`;
  return {
    status,
    html: true,
    body: `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`,
  };
};

const hex = (bytes: number) => randomBytes(bytes).toString('hex').toUpperCase();

/** Baileys' generateMessageIDV2: "3EB0" and 18 hex digits (getDevice() calls it "web"). */
export const outgoingMessageId = () => `3EB0${hex(9)}`;
/** Ids of messages typed on an Android phone: 32 hex digits. */
export const incomingMessageId = () => hex(16);
/** Prisma's cuid()-style row ids (Instance.id, MessageUpdate.messageId). */
export const rowId = () =>
  `cm${randomBytes(12)
    .toString('base64url')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, 'x')}`;

export const digitsOf = (number: string) => number.split('@')[0]!.replace(/\D/g, '');
/**
 * createJid() for a plain number, with Evolution's national rules (src/utils/createJid.ts): a 13-digit
 * Mexican (52) or Argentine (54) number loses its third digit (the mobile 1 or 9); a 13-digit Brazilian
 * number loses the 9 after the area code when the area code is 31 or more and the subscriber number
 * starts with 7, 8 or 9.
 */
export function jidOf(number: string): string {
  let d = digitsOf(number);
  if (d.length === 13 && (d.startsWith('52') || d.startsWith('54'))) d = d.slice(0, 2) + d.slice(3);
  const br = /^55(\d{2})\d(\d{8})$/.exec(d);
  if (br && Number(br[1]) >= 31 && Number(br[2]![0]) >= 7) d = `55${br[1]}${br[2]}`;
  return `${d}@s.whatsapp.net`;
}

/** sendDataWebhook()'s `date_time`: local time written with toISOString(). */
export const localIsoTime = (ms: number) =>
  new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString();
