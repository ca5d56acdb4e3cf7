import { MAX_AMOUNT_MICRO, MICRO_PER_CREDIT } from '../contracts/ledger.ts';
import { AppError } from '../errors.ts';

const DECIMAL = /^([+-])?(\d+)(?:\.(\d{1,6}))?$/;

/**
 * Parses a decimal credits string exactly, without float math: "0.05" -> 50000, "-1.5" -> -1500000.
 * More than 6 decimals, exponents, empty parts ("1.", ".5") or amounts beyond the limit are refused.
 */
export function parseCredits(text: string): number {
  const m = DECIMAL.exec(text.trim());
  if (!m) {
    throw new AppError(
      'VALIDATION_ERROR',
      `Invalid credits amount "${text}": use digits with up to 6 decimals`,
    );
  }
  const [, sign, whole = '0', frac = ''] = m;
  const wholeDigits = whole.replace(/^0+(?=\d)/, '');
  if (wholeDigits.length > 10)
    throw new AppError('VALIDATION_ERROR', `Credits amount "${text}" is too large`);
  const micro = Number(wholeDigits) * MICRO_PER_CREDIT + Number(frac.padEnd(6, '0'));
  if (micro > MAX_AMOUNT_MICRO)
    throw new AppError('VALIDATION_ERROR', `Credits amount "${text}" is too large`);
  return sign === '-' && micro !== 0 ? -micro : micro;
}

/** Formats micro-credits as the shortest exact decimal: 50000 -> "0.05", 2000000 -> "2", -1 -> "-0.000001". */
export function formatCredits(micro: number): string {
  if (!Number.isSafeInteger(micro)) throw new RangeError(`not an integer amount: ${micro}`);
  const abs = Math.abs(micro);
  const whole = Math.floor(abs / MICRO_PER_CREDIT);
  const frac = String(abs % MICRO_PER_CREDIT)
    .padStart(6, '0')
    .replace(/0+$/, '');
  return `${micro < 0 ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`;
}
