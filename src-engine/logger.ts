import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };
export type Service = 'engine' | 'main' | 'ledger';

/** Paths whose values never reach a log line. */
export const REDACT_PATHS = [
  'jwtKey',
  '*.jwtKey',
  'headers["x-agencia-webhook-secret"]',
  'req.headers["x-agencia-webhook-secret"]',
  'apiKey',
  'api_key',
  'apikey',
  'token',
  'password',
  'secret',
  'authorization',
  'cookie',
  '*.apiKey',
  '*.api_key',
  '*.apikey',
  '*.token',
  '*.password',
  '*.secret',
  '*.authorization',
  '*.cookie',
  'headers.authorization',
  'headers.apikey',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.apikey',
  'req.headers.cookie',
  'redisUrl',
  '*.redisUrl',
];

/** One pino logger per process, bound to its service; pass children (`log.child`) down to modules. */
export function createLogger(
  service: Service,
  opts: { level?: string; destination?: DestinationStream } = {},
): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      base: { service },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    opts.destination ?? pino.destination(2),
  );
}
