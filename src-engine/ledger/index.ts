export { SYSTEM_ACCOUNTS, orgAccount } from './accounts.ts';
export { cycleAt } from './cycle.ts';
export { createLedger, type Ledger, type LedgerDeps, type TransferOptions } from './ledger.ts';
export { MICRO_PER_CREDIT } from '../contracts/ledger.ts';
export { formatCredits, parseCredits } from './money.ts';
export { createOrganization, type NewOrganization } from './orgs.ts';
export { createQuotas, type BumpResult, type Quotas, type UsageDelta } from './quota.ts';
export { verifyLedger } from './verify.ts';
