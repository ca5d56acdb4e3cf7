// Display formatting. Money is integer micro-credits (1 credit = 1,000,000): it is split into whole
// and fractional digits as integers and never goes through a float.

import { MICRO_PER_CREDIT } from '../../src-engine/contracts/ledger.ts';

export type Locale = 'es' | 'en';
const INTL_LOCALE: Record<Locale, string> = { es: 'es-ES', en: 'en-US' };

const decimalSeparator = (locale: Locale) =>
  new Intl.NumberFormat(INTL_LOCALE[locale]).formatToParts(1.5).find((p) => p.type === 'decimal')?.value ??
  '.';

/** 1500000 → "1.50" (en) / "1,50" (es); at least 2 decimals, up to 6 when they matter. */
export function formatCredits(micro: number, locale: Locale): string {
  if (!Number.isSafeInteger(micro)) return '—';
  const abs = Math.abs(micro);
  const whole = Math.floor(abs / MICRO_PER_CREDIT);
  const frac = String(abs % MICRO_PER_CREDIT)
    .padStart(6, '0')
    .replace(/0+$/, '')
    .padEnd(2, '0');
  // es-ES leaves 4-digit numbers ungrouped by default; money reads better grouped alike.
  const grouped = new Intl.NumberFormat(INTL_LOCALE[locale], { useGrouping: 'always' }).format(whole);
  return `${micro < 0 ? '−' : ''}${grouped}${decimalSeparator(locale)}${frac}`;
}

export function formatNumber(n: number, locale: Locale): string {
  return new Intl.NumberFormat(INTL_LOCALE[locale]).format(n);
}

export function formatPercent(ratio: number, locale: Locale): string {
  return new Intl.NumberFormat(INTL_LOCALE[locale], { style: 'percent', maximumFractionDigits: 0 }).format(
    ratio,
  );
}

export function formatDateTime(ms: number, locale: Locale): string {
  return new Intl.DateTimeFormat(INTL_LOCALE[locale], { dateStyle: 'short', timeStyle: 'medium' }).format(ms);
}

/** The time of day on the user's clock, 24-hour "14:05:09": for log lines (any locale reads it alike). */
export function formatClock(ms: number, timeZone?: string): string {
  return new Intl.DateTimeFormat('en-GB', {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
    ...(timeZone && { timeZone }),
  }).format(ms);
}

export function formatDate(ms: number, locale: Locale): string {
  return new Intl.DateTimeFormat(INTL_LOCALE[locale], { dateStyle: 'medium' }).format(ms);
}

/** 42 → "42 s", 125 → "2 min", 7200 → "2 h". */
export function formatDuration(seconds: number, locale: Locale): string {
  const unit = (value: number, u: 'second' | 'minute' | 'hour') =>
    new Intl.NumberFormat(INTL_LOCALE[locale], { style: 'unit', unit: u, unitDisplay: 'short' }).format(
      value,
    );
  if (seconds < 90) return unit(Math.round(seconds), 'second');
  if (seconds < 5400) return unit(Math.round(seconds / 60), 'minute');
  return unit(Math.round(seconds / 3600), 'hour');
}
