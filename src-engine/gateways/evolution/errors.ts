import type { ErrorCode } from '../../contracts/errors.ts';
import { EvolutionErrorBodySchema, OnWhatsAppSchema } from '../../contracts/evolution.ts';
import { AppError } from '../../errors.ts';

/** Whether a call that failed this way may succeed when tried again (later, or on another instance). */
const RETRYABLE = {
  /** 400 with `[{exists:false, number, jid}]`: the number has no WhatsApp account. */
  not_on_whatsapp: false,
  /** 401 (or 403): the API key is wrong. */
  unauthorized: false,
  /** 404: no such instance on this Evolution server. */
  unknown_instance: false,
  /** Any other 4xx: Evolution refused the request as made (e.g. "Text is required"). */
  bad_request: false,
  /** A 2xx whose body is not what Evolution sends; the call may well have taken effect. */
  bad_response: false,
  /** 429, or WhatsApp's "rate-overlimit": back off, and treat it as a sign of restriction. */
  rate_limited: true,
  /** The instance's WhatsApp socket is closed ("Connection Closed"): another instance may work. */
  connection_closed: true,
  /** 5xx. */
  server: true,
  /** No answer within the time limit; the call may have taken effect. */
  timeout: true,
  /** No HTTP answer at all (refused, reset, DNS). */
  network: true,
} as const;

export type EvolutionErrorKind = keyof typeof RETRYABLE;
export const EVOLUTION_ERROR_KINDS = Object.keys(RETRYABLE) as EvolutionErrorKind[];

/** Answers that turn the call down: it certainly took no effect (unlike a 5xx, an odd answer or none). */
const REFUSALS: ReadonlySet<EvolutionErrorKind> = new Set([
  'not_on_whatsapp',
  'unauthorized',
  'unknown_instance',
  'bad_request',
  'rate_limited',
  'connection_closed',
]);

/** How each failure reads to a user of our API: the recipient, our setup, or the service. */
const KIND_CODES: Record<EvolutionErrorKind, ErrorCode> = {
  not_on_whatsapp: 'VALIDATION_ERROR',
  unauthorized: 'UNAVAILABLE',
  unknown_instance: 'NOT_FOUND',
  bad_request: 'VALIDATION_ERROR',
  bad_response: 'UNAVAILABLE',
  rate_limited: 'RATE_LIMITED',
  connection_closed: 'UNAVAILABLE',
  server: 'UNAVAILABLE',
  timeout: 'UNAVAILABLE',
  network: 'UNAVAILABLE',
};

/** Every failure of the Evolution client, classified by `kind`. */
export class EvolutionError extends AppError {
  readonly retryable: boolean;
  /** Evolution's HTTP status, when it answered. */
  readonly httpStatus: number | undefined;
  /** The number that is not on WhatsApp (`not_on_whatsapp`). */
  readonly number: string | undefined;

  constructor(
    readonly kind: EvolutionErrorKind,
    message: string,
    opts: { httpStatus?: number; number?: string; cause?: unknown } = {},
  ) {
    super(KIND_CODES[kind], message, {
      service: 'evolution',
      kind,
      ...(opts.httpStatus === undefined ? {} : { httpStatus: opts.httpStatus }),
      ...(opts.number === undefined ? {} : { number: opts.number }),
    });
    this.retryable = RETRYABLE[kind];
    this.httpStatus = opts.httpStatus;
    this.number = opts.number;
    if (opts.cause !== undefined) this.cause = opts.cause;
  }

  get permanent(): boolean {
    return !this.retryable;
  }

  /** Evolution or WhatsApp refused the call: it certainly did not take effect (nothing was sent). */
  get refused(): boolean {
    return REFUSALS.has(this.kind);
  }

  /** A sign that WhatsApp is restricting the instance (for its health). */
  get restriction(): boolean {
    return this.kind === 'rate_limited';
  }
}

/** The items of every `message` field Evolution may put in an error body, flattened. */
function messageItems(body: unknown): unknown[] {
  const parsed = EvolutionErrorBodySchema.safeParse(body);
  if (!parsed.success) return typeof body === 'string' ? [body] : [];
  const { response, message, output } = parsed.data;
  return [response?.message, message, output?.payload?.message].flat().filter((m) => m !== undefined);
}

const MAX_DETAIL = 300;

/** Turns an HTTP error answer into an EvolutionError; `body` is the parsed JSON, or the raw text. */
export function classifyAnswer(status: number, body: unknown, what: string): EvolutionError {
  const items = messageItems(body);
  const texts = items.filter((m): m is string => typeof m === 'string');
  // One line, bounded: a proxy's HTML page is text too.
  const detail = texts.join('; ').replace(/\s+/g, ' ').trim().slice(0, MAX_DETAIL);
  const fail = (kind: EvolutionErrorKind, extra: { number?: string; why?: string } = {}) => {
    const why = extra.why ?? detail;
    return new EvolutionError(kind, `${what}: ${kind} (HTTP ${status})${why ? `: ${why}` : ''}`, {
      httpStatus: status,
      number: extra.number,
    });
  };

  if (status === 401 || status === 403) return fail('unauthorized');
  if (status === 404) return fail('unknown_instance');
  if (status === 429 || texts.some((t) => t.includes('rate-overlimit'))) return fail('rate_limited');
  if (texts.some((t) => t.includes('Connection Closed'))) return fail('connection_closed');
  const notOnWhatsApp = items
    .map((m) => OnWhatsAppSchema.safeParse(m))
    .find((p) => p.success && !p.data.exists);
  if (status === 400 && notOnWhatsApp?.success) {
    const { number } = notOnWhatsApp.data;
    return fail('not_on_whatsapp', { number, why: `${number} has no WhatsApp account` });
  }
  if (status >= 500) return fail('server');
  return fail('bad_request');
}
