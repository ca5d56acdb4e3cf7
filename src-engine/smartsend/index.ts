export { transitionHealth, warmupComplete, type HealthSignal, type HealthTransition } from './health.ts';
export {
  composingMs,
  dailyCapAt,
  hourlyCapAt,
  nextSlot,
  pacingContext,
  recordSend,
  type PacingContext,
} from './pacing.ts';
export {
  createSmartSend,
  type HealthReport,
  type SendRequest,
  type SmartSend,
  type SmartSendDeps,
} from './planner.ts';
export { isQuiet, quietEnd, quietWindow, type QuietWindow } from './quiet-hours.ts';
export { randomInt, seededRandom, type Random } from './random.ts';
export { pickInstance, recipientKey, type InstancePick } from './rotation.ts';
export { createMemoryState, initialInstanceState, type SmartSendState } from './state.ts';
export { DAY_MS, HOUR_MS, MINUTE_MS, timeZone, type TimeZone } from './time-zone.ts';
export { warmupCap, warmupDay, warmupDays, warmupStartForDay, warmupStepBack } from './warmup.ts';
