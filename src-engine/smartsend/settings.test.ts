import { describe, expect, it } from 'vitest';
import { ZodError } from 'zod';
import {
  BurstPauseEnvSchema,
  DailyCapEnvSchema,
  InstanceHealthEventSchema,
  JitterEnvSchema,
  QuietHoursEnvSchema,
  SmartSendSettingsSchema,
  smartSendSettingsFromEnv,
} from '../contracts/smartsend.ts';

describe('SmartSend settings', () => {
  it('has the documented defaults', () => {
    const s = SmartSendSettingsSchema.parse({});
    expect(s.jitter).toEqual({ minMs: 2000, maxMs: 7000 });
    expect(s.burst).toEqual({ min: 20, max: 60 });
    expect(s.burstPause).toEqual({ minMs: 300_000, maxMs: 900_000 });
    expect(s.quietHours).toBeNull();
    expect(s.warmup).toEqual([
      { days: 2, cap: 50 },
      { days: 3, cap: 200 },
      { days: 5, cap: 500 },
    ]);
    expect(s.dailyCap).toBe(1000);
    expect(s.hourlyCap).toBe(120);
    expect(s.throttle.capFactor).toBe(0.5);
  });

  it('gives every parse its own copy of the defaults', () => {
    const a = SmartSendSettingsSchema.parse({});
    a.jitter.minMs = 1;
    a.warmup[0]!.cap = 1;
    const b = SmartSendSettingsSchema.parse({});
    expect(b.jitter.minMs).toBe(2000);
    expect(b.warmup[0]!.cap).toBe(50);
  });

  it.each([
    [{ jitter: { minMs: 7000, maxMs: 2000 } }, 'jitter'],
    [{ burst: { min: 0, max: 10 } }, 'burst'],
    [{ quietHours: { start: '21:00', end: '21:00' } }, 'quietHours'],
    [{ quietHours: { start: '24:00', end: '08:00' } }, 'quietHours'],
    [{ warmup: [] }, 'warmup'],
    [{ throttle: { ...SmartSendSettingsSchema.parse({}).throttle, minSamples: 30, window: 20 } }, 'throttle'],
    [{ hourlyCap: 0 }, 'hourlyCap'],
    [{ unknown: 1 }, ''],
  ])('refuses %j', (input, path) => {
    const r = SmartSendSettingsSchema.safeParse(input);
    expect(r.success).toBe(false);
    expect(String(r.error!.issues[0]!.path[0] ?? '')).toBe(path);
  });
});

describe('SMARTSEND_* environment strings', () => {
  it('parses ranges, a single pause, quiet hours and the daily cap', () => {
    expect(JitterEnvSchema.parse('2000-7000')).toEqual({ minMs: 2000, maxMs: 7000 });
    expect(JitterEnvSchema.parse(' 1500 - 1500 ')).toEqual({ minMs: 1500, maxMs: 1500 });
    expect(BurstPauseEnvSchema.parse('300000-900000')).toEqual({ minMs: 300_000, maxMs: 900_000 });
    expect(BurstPauseEnvSchema.parse('600000')).toEqual({ minMs: 600_000, maxMs: 600_000 });
    expect(QuietHoursEnvSchema.parse('21:00-08:00')).toEqual({ start: '21:00', end: '08:00' });
    expect(DailyCapEnvSchema.parse('800')).toBe(800);
  });

  it.each([
    [JitterEnvSchema, '7000-2000', 'must not exceed'],
    [JitterEnvSchema, '2000', '"min-max"'],
    [JitterEnvSchema, '2s-7s', '"min-max"'],
    [BurstPauseEnvSchema, '-5', '"min-max" or one number'],
    [QuietHoursEnvSchema, '21-8', 'HH:MM-HH:MM'],
    [QuietHoursEnvSchema, '25:00-08:00', 'HH:MM'],
    [QuietHoursEnvSchema, '08:00-08:00', 'must differ'],
    [DailyCapEnvSchema, '0', '>=1'],
    [DailyCapEnvSchema, 'lots', 'whole number'],
  ])('refuses %#: %s', (schema, value, message) => {
    const r = schema.safeParse(value);
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.message).join(' ')).toContain(message);
  });

  it('builds the settings from the variables, defaults for the unset ones', () => {
    const s = smartSendSettingsFromEnv({
      SMARTSEND_JITTER_MS: '3000-9000',
      SMARTSEND_BURST: '10-30',
      SMARTSEND_QUIET_HOURS: '22:30-07:15',
      SMARTSEND_DAILY_CAP: '400',
    });
    expect(s.jitter).toEqual({ minMs: 3000, maxMs: 9000 });
    expect(s.burst).toEqual({ min: 10, max: 30 });
    expect(s.burstPause).toEqual({ minMs: 300_000, maxMs: 900_000 });
    expect(s.quietHours).toEqual({ start: '22:30', end: '07:15' });
    expect(s.dailyCap).toBe(400);
    expect(smartSendSettingsFromEnv({})).toEqual(SmartSendSettingsSchema.parse({}));
  });

  it('names the bad variable', () => {
    try {
      smartSendSettingsFromEnv({ SMARTSEND_BURST: '60-20' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ZodError);
      expect((err as ZodError).issues[0]!.path).toEqual(['SMARTSEND_BURST']);
    }
  });
});

it('the health event has the agreed shape', () => {
  const e = {
    type: 'instance.health',
    instanceId: 'i1',
    orgId: 'o1',
    from: 'ACTIVE',
    to: 'BANNED',
    reason: 'logged out',
    ts: 1,
  };
  expect(InstanceHealthEventSchema.parse(e)).toEqual(e);
  expect(InstanceHealthEventSchema.safeParse({ ...e, to: 'GONE' }).success).toBe(false);
});
