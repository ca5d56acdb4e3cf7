import { z } from 'zod';
import { InstanceHealthSchema } from './whatsapp.ts';

/*
 * SmartSend: the settings of the anti-ban pacing, the persisted per-instance state, the health
 * event, and the parsers of the SMARTSEND_* environment strings. Times are epoch ms; durations ms.
 */

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

const durationMs = z.number().int().min(0).max(DAY_MS);

/** A closed range of milliseconds, `minMs <= maxMs`. */
export const MsRangeSchema = z
  .object({ minMs: durationMs, maxMs: durationMs })
  .strict()
  .refine((r) => r.minMs <= r.maxMs, { message: 'minMs must not exceed maxMs', path: ['maxMs'] });
export type MsRange = z.infer<typeof MsRangeSchema>;

/** A closed range of message counts, `1 <= min <= max`. */
export const CountRangeSchema = z
  .object({ min: z.number().int().min(1).max(100_000), max: z.number().int().min(1).max(100_000) })
  .strict()
  .refine((r) => r.min <= r.max, { message: 'min must not exceed max', path: ['max'] });
export type CountRange = z.infer<typeof CountRangeSchema>;

export const TimeOfDaySchema = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time of day HH:MM (00:00-23:59)');

/** Local wall-clock times in the org's time zone; `start > end` wraps around midnight. */
export const QuietHoursSchema = z
  .object({ start: TimeOfDaySchema, end: TimeOfDaySchema })
  .strict()
  .refine((q) => q.start !== q.end, { message: 'start and end must differ', path: ['end'] });
export type QuietHours = z.infer<typeof QuietHoursSchema>;

/** `days` consecutive warm-up days with at most `cap` messages a day. */
export const WarmupStepSchema = z
  .object({ days: z.number().int().min(1).max(365), cap: z.number().int().min(1).max(1_000_000) })
  .strict();
export type WarmupStep = z.infer<typeof WarmupStepSchema>;

export const ThrottleSettingsSchema = z
  .object({
    /** Caps are multiplied by this while THROTTLED (never below 1 message). */
    capFactor: z.number().gt(0).max(1),
    /** How long THROTTLED lasts after the last sign of restriction. */
    cooldownMs: z
      .number()
      .int()
      .min(0)
      .max(30 * DAY_MS),
    /** The sliding window: this many latest outcomes (sends and acks) are kept. */
    window: z.number().int().min(1).max(1000),
    /** The failure ratio is judged only once the window holds this many outcomes. */
    minSamples: z.number().int().min(1).max(1000),
    /** Failed sends + error acks over outcomes at or above this throttles. */
    maxFailureRatio: z.number().gt(0).max(1),
    /** This many error acks inside the window throttle, whatever the ratio. */
    errorAckLimit: z.number().int().min(1).max(1000),
  })
  .strict()
  .refine((t) => t.minSamples <= t.window, {
    message: 'minSamples must not exceed window',
    path: ['minSamples'],
  });
export type ThrottleSettings = z.infer<typeof ThrottleSettingsSchema>;

/**
 * The "composing" presence before a message: `msPerChar` per character, clamped to [minMs, maxMs],
 * and never longer than the smallest gap (`jitter.minMs`), so it fits between two sends.
 */
export const PresenceSettingsSchema = z
  .object({
    msPerChar: z.number().min(0).max(10_000),
    minMs: z.number().int().min(0).max(HOUR_MS),
    maxMs: z.number().int().min(0).max(HOUR_MS),
  })
  .strict()
  .refine((p) => p.minMs <= p.maxMs, { message: 'minMs must not exceed maxMs', path: ['maxMs'] });
export type PresenceSettings = z.infer<typeof PresenceSettingsSchema>;

export const SMARTSEND_DEFAULTS = {
  jitter: { minMs: 2000, maxMs: 7000 },
  burst: { min: 20, max: 60 },
  burstPause: { minMs: 5 * MINUTE_MS, maxMs: 15 * MINUTE_MS },
  hourlyCap: 120,
  dailyCap: 1000,
  quietHours: null,
  presence: { msPerChar: 40, minMs: 800, maxMs: 2000 },
  warmup: [
    { days: 2, cap: 50 },
    { days: 3, cap: 200 },
    { days: 5, cap: 500 },
  ],
  throttle: {
    capFactor: 0.5,
    cooldownMs: 2 * HOUR_MS,
    window: 20,
    minSamples: 10,
    maxFailureRatio: 0.3,
    errorAckLimit: 3,
  },
} as const;

export const SmartSendSettingsSchema = z
  .object({
    /** The gap between two sends of one instance inside a burst. */
    jitter: MsRangeSchema.default(() => ({ ...SMARTSEND_DEFAULTS.jitter })),
    /** A burst of k sends, k drawn in this range... */
    burst: CountRangeSchema.default(() => ({ ...SMARTSEND_DEFAULTS.burst })),
    /** ...then a pause drawn in this range. Any break this long starts a new burst. */
    burstPause: MsRangeSchema.default(() => ({ ...SMARTSEND_DEFAULTS.burstPause })),
    /** Sends per clock hour (UTC hours, i.e. local hours wherever the offset is whole hours). */
    hourlyCap: z.number().int().min(1).max(100_000).default(SMARTSEND_DEFAULTS.hourlyCap),
    /** Sends per local day once warmed up; an instance's own `dailyCap` overrides it. */
    dailyCap: z.number().int().min(1).max(1_000_000).default(SMARTSEND_DEFAULTS.dailyCap),
    quietHours: QuietHoursSchema.nullable().default(SMARTSEND_DEFAULTS.quietHours),
    presence: PresenceSettingsSchema.default(() => ({ ...SMARTSEND_DEFAULTS.presence })),
    /** Daily caps of a new instance, day 1 first; after the last step, `dailyCap`. */
    warmup: z
      .array(WarmupStepSchema)
      .min(1)
      .max(50)
      .default(() => SMARTSEND_DEFAULTS.warmup.map((s) => ({ ...s }))),
    throttle: ThrottleSettingsSchema.default(() => ({ ...SMARTSEND_DEFAULTS.throttle })),
  })
  .strict();
export type SmartSendSettings = z.infer<typeof SmartSendSettingsSchema>;
export type SmartSendSettingsInput = z.input<typeof SmartSendSettingsSchema>;

/**
 * What SmartSend keeps per WhatsApp instance (persisted by the state port). `*Window` are the
 * current cap windows (epoch hour; local day number in the org's time zone) and their counts.
 */
export const InstanceStateSchema = z.object({
  instanceId: z.string().min(1),
  orgId: z.string().min(1),
  health: InstanceHealthSchema,
  healthReason: z.string().nullable(),
  healthChangedAt: z.number().int().nullable(),
  /** Overrides the settings' `dailyCap` for this instance. */
  dailyCap: z.number().int().min(1).nullable(),
  /** Any instant of the local day that counts as warm-up day 1. */
  warmupStartedAt: z.number().int(),
  warmupCompletedAt: z.number().int().nullable(),
  /** The latest send recorded (or reserved). */
  lastSendAt: z.number().int().nullable(),
  /** The earliest next send the pacing allows: last send + gap, or + pause after a burst. */
  notBefore: z.number().int().nullable(),
  burstCount: z.number().int().min(0),
  burstTarget: z.number().int().min(0),
  hourWindow: z.number().int().nullable(),
  hourCount: z.number().int().min(0),
  dayWindow: z.number().int().nullable(),
  dayCount: z.number().int().min(0),
  throttledUntil: z.number().int().nullable(),
  /** The sliding window of latest outcomes, oldest first: o = sent, f = failed send, e = error ack. */
  outcomes: z.string().regex(/^[ofe]*$/),
});
export type InstanceState = z.infer<typeof InstanceStateSchema>;

/** A planned send: the slot reserved for one message on one instance. */
export const ReservationSchema = z.object({
  messageId: z.string().min(1),
  orgId: z.string().min(1),
  instanceId: z.string().min(1),
  /** `auto` messages may move to another instance; `pinned` ones wait for theirs. */
  mode: z.enum(['auto', 'pinned']),
  recipient: z.string().min(1),
  /** When the message goes out. */
  sendAt: z.number().int(),
  /** The "composing" presence shown for this long just before `sendAt`. */
  composingMs: z.number().int().min(0),
});
export type Reservation = z.infer<typeof ReservationSchema>;

/*
 * Why a number's health changed: stored (`whatsapp_instances.health_reason`, `instance_health_events`)
 * and sent as this English text, which `readHealthReason` turns back into a code and its figures for
 * the UI to say in the user's language.
 */
export const HEALTH_REASON = {
  added: 'new instance',
  addedWarm: 'added past the warm-up',
  reconnected: 'connected again after the ban: warm-up starts over',
  loggedOut: 'logged out',
  rateLimited: 'rate-overlimit answer',
  cooldownOver: 'cooldown over',
  cooldownOverWarmup: 'cooldown over, warm-up continues',
  warmupCompleted: 'warm-up completed',
  closed: (statusReason: number) => `connection closed with ${statusReason}`,
  errorAcks: (acks: number, outcomes: number) => `${acks} error acks in the last ${outcomes} outcomes`,
  failureRatio: (ratio: number, outcomes: number) =>
    `failure ratio ${ratio.toFixed(2)} over the last ${outcomes} outcomes`,
} as const;

type FixedReason = {
  [K in keyof typeof HEALTH_REASON]: (typeof HEALTH_REASON)[K] extends string ? K : never;
};
export type HealthReason =
  | { code: FixedReason[keyof FixedReason] }
  | { code: 'closed'; statusReason: number }
  | { code: 'errorAcks'; acks: number; outcomes: number }
  | { code: 'failureRatio'; ratio: number; outcomes: number };

/** The reason `text` says, or null for a text of another source (shown as it is). */
export function readHealthReason(text: string): HealthReason | null {
  for (const [code, v] of Object.entries(HEALTH_REASON)) {
    if (v === text) return { code } as HealthReason;
  }
  let m = /^connection closed with (\d+)$/.exec(text);
  if (m) return { code: 'closed', statusReason: Number(m[1]) };
  m = /^(\d+) error acks in the last (\d+) outcomes$/.exec(text);
  if (m) return { code: 'errorAcks', acks: Number(m[1]), outcomes: Number(m[2]) };
  m = /^failure ratio (\d+(?:\.\d+)?) over the last (\d+) outcomes$/.exec(text);
  if (m) return { code: 'failureRatio', ratio: Number(m[1]), outcomes: Number(m[2]) };
  return null;
}

/** Emitted on every health change (the traffic light); persisted with its reason. */
export const InstanceHealthEventSchema = z.object({
  type: z.literal('instance.health'),
  instanceId: z.string(),
  orgId: z.string(),
  from: InstanceHealthSchema,
  to: InstanceHealthSchema,
  reason: z.string(),
  ts: z.number().int(),
});
export type InstanceHealthEvent = z.infer<typeof InstanceHealthEventSchema>;

// --- SMARTSEND_* environment strings -------------------------------------------------------------

/** "min-max" (or, with `single`, one number) as two integers; undefined after adding an issue. */
function parseRange(
  s: string,
  ctx: z.RefinementCtx,
  single: boolean,
  example: string,
): [number, number] | undefined {
  const m = /^\s*(\d{1,9})\s*(?:-\s*(\d{1,9})\s*)?$/.exec(s);
  if (m && (m[2] !== undefined || single)) return [Number(m[1]), Number(m[2] ?? m[1])];
  ctx.addIssue({
    code: 'custom',
    message: `expected "min-max"${single ? ' or one number' : ''}, e.g. "${example}"`,
  });
  return undefined;
}

/** Checks a parsed value against `schema`, copying its issues onto the env string's. */
function checked<T extends z.ZodType>(schema: T, value: unknown, ctx: z.RefinementCtx): z.output<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  for (const i of parsed.error.issues) ctx.addIssue({ code: 'custom', message: i.message });
  return z.NEVER;
}

/** `SMARTSEND_JITTER_MS`: "min-max" milliseconds, e.g. "2000-7000". */
export const JitterEnvSchema = z.string().transform((s, ctx) => {
  const r = parseRange(s, ctx, false, '2000-7000');
  return r ? checked(MsRangeSchema, { minMs: r[0], maxMs: r[1] }, ctx) : z.NEVER;
});

/** `SMARTSEND_BURST`: "min-max" messages per burst, e.g. "20-60". */
export const BurstEnvSchema = z.string().transform((s, ctx) => {
  const r = parseRange(s, ctx, false, '20-60');
  return r ? checked(CountRangeSchema, { min: r[0], max: r[1] }, ctx) : z.NEVER;
});

/** `SMARTSEND_BURST_PAUSE_MS`: "min-max" milliseconds, or one number for a fixed pause. */
export const BurstPauseEnvSchema = z.string().transform((s, ctx) => {
  const r = parseRange(s, ctx, true, '300000-900000');
  return r ? checked(MsRangeSchema, { minMs: r[0], maxMs: r[1] }, ctx) : z.NEVER;
});

/** `SMARTSEND_QUIET_HOURS`: "HH:MM-HH:MM" local time, e.g. "21:00-08:00" (wraps midnight). */
export const QuietHoursEnvSchema = z.string().transform((s, ctx) => {
  const m = /^\s*(\d{2}:\d{2})\s*-\s*(\d{2}:\d{2})\s*$/.exec(s);
  if (m) return checked(QuietHoursSchema, { start: m[1], end: m[2] }, ctx);
  ctx.addIssue({ code: 'custom', message: 'expected "HH:MM-HH:MM", e.g. "21:00-08:00"' });
  return z.NEVER;
});

/** `SMARTSEND_DAILY_CAP`: messages per local day after warm-up. */
export const DailyCapEnvSchema = z.string().transform((s, ctx) => {
  if (/^\s*\d{1,9}\s*$/.test(s)) return checked(SmartSendSettingsSchema.shape.dailyCap, Number(s), ctx);
  ctx.addIssue({ code: 'custom', message: 'expected a whole number, e.g. "1000"' });
  return z.NEVER;
});

/** The SMARTSEND_* variables and the schema of each one's string. */
export const SMARTSEND_ENV = {
  SMARTSEND_JITTER_MS: JitterEnvSchema,
  SMARTSEND_BURST: BurstEnvSchema,
  SMARTSEND_BURST_PAUSE_MS: BurstPauseEnvSchema,
  SMARTSEND_QUIET_HOURS: QuietHoursEnvSchema,
  SMARTSEND_DAILY_CAP: DailyCapEnvSchema,
} as const;
export type SmartSendEnvVar = keyof typeof SMARTSEND_ENV;

/**
 * The settings from the SMARTSEND_* strings; unset ones keep their defaults. Throws a ZodError
 * whose issue paths name the variable.
 */
export function smartSendSettingsFromEnv(
  env: Partial<Record<SmartSendEnvVar, string | undefined>>,
): SmartSendSettings {
  const v = z.object(SMARTSEND_ENV).partial().parse(env);
  return SmartSendSettingsSchema.parse({
    jitter: v.SMARTSEND_JITTER_MS,
    burst: v.SMARTSEND_BURST,
    burstPause: v.SMARTSEND_BURST_PAUSE_MS,
    quietHours: v.SMARTSEND_QUIET_HOURS,
    dailyCap: v.SMARTSEND_DAILY_CAP,
  });
}
