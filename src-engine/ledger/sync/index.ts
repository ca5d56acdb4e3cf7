export { CORRECTION_REFERENCE, createAuthority, localTransferOf } from './authority.ts';
export {
  DEFAULT_RETRY,
  createSyncClient,
  retryAfterMs,
  type RetryPolicy,
  type SyncClient,
} from './client.ts';
export { SYNC_QUEUE, ledgerSyncFromConfig, scheduleLedgerSync, type LedgerSyncSetup } from './runtime.ts';
export { endpointKey, installOutboxTrigger } from './store.ts';
export { createLedgerSync, type LedgerSync, type LedgerSyncDeps, type SyncAlerts } from './sync.ts';
