import type { Check } from '../../../src-engine/contracts/health.ts';
import { formatDateTime, formatNumber, type Locale } from '../format.ts';
import type { Dictionary } from './es.ts';

/** Why a connection check is as it is, in the user's language; an engine without `detail`: its text. */
export function checkReasonText(t: Dictionary, locale: Locale, check: Check): string | undefined {
  const d = check.detail;
  if (!d) return check.reason;
  const say = t.health.reasons;
  const withError = (text: string, error: string | undefined) =>
    error === undefined ? text : `${text}; ${say.lastError(error)}`;
  switch (d.code) {
    case 'not_configured':
      return say.notConfigured(d.setting);
    case 'unreachable':
      return say.unreachable(d.error);
    case 'docker_unreachable':
      return say.dockerUnreachable(d.error);
    case 'cage_image_missing':
      return say.cageImageMissing(d.image);
    case 'cage_runtime_missing':
      return say.cageRuntimeMissing(d.runtime, d.available.join(', '));
    case 'cage_ready':
      return d.runtime ? say.cageReadyRuntime(d.image, d.runtime) : say.cageReady(d.image);
    case 'ledger_synced':
      return withError(say.ledgerSynced(formatDateTime(d.at, locale)), d.lastError);
    case 'ledger_not_synced_yet':
      return withError(say.ledgerNotSyncedYet, d.lastError);
    case 'ledger_offline': {
      const offline = d.everSynced ? say.ledgerOffline : say.ledgerNeverSynced;
      return withError(offline(formatDateTime(d.since, locale), formatNumber(d.graceH, locale)), d.lastError);
    }
  }
}
