import { readHealthReason } from '../../../src-engine/contracts/smartsend.ts';
import { formatPercent, type Locale } from '../format.ts';
import type { Dictionary } from './es.ts';

/** Why the health changed, in the user's language; a reason of unknown shape as it is. */
export function healthReasonText(t: Dictionary, locale: Locale, text: string): string {
  const r = readHealthReason(text);
  if (!r) return text;
  const say = t.whatsapp.reasons;
  switch (r.code) {
    case 'closed':
      return say.closed(r.statusReason);
    case 'errorAcks':
      return say.errorAcks(r.acks, r.outcomes);
    case 'failureRatio':
      return say.failureRatio(formatPercent(r.ratio, locale), r.outcomes);
    default:
      return say[r.code];
  }
}
