import type { ApiKeys } from './api-keys.ts';
import { SESSION_PREFIX, type Sessions } from './sessions.ts';

/** Who is asking: an org, through an API key (integrations) or a local session (the desktop UI). */
export interface Principal {
  orgId: string;
  via: 'api-key' | 'session';
}

/** Authenticates a presented credential (API key `ad_…` or session token `ads_…`); else UNAUTHORIZED. */
export function createAuthenticator(deps: { apiKeys: ApiKeys; sessions: Sessions }) {
  return (presented: string | undefined): Principal =>
    presented?.startsWith(SESSION_PREFIX)
      ? { orgId: deps.sessions.verify(presented).orgId, via: 'session' }
      : { orgId: deps.apiKeys.verify(presented).orgId, via: 'api-key' };
}
export type Authenticate = ReturnType<typeof createAuthenticator>;
