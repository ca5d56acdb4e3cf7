import { createHash, randomBytes } from 'node:crypto';
import { AppError } from '../errors.ts';

/**
 * Local sessions of the desktop UI (IPC, or the web panel served by `start --ui`): random tokens held
 * in memory only, so they die with the engine. Looked up by their SHA-256, never stored in clear.
 */
export interface Sessions {
  issue(orgId: string): string;
  /** The org of a live session, or UNAUTHORIZED. */
  verify(token: string | undefined): { orgId: string };
  revoke(token: string): void;
}

export const SESSION_PREFIX = 'ads_';

const digest = (token: string) => createHash('sha256').update(token).digest('base64');

export function createSessions(): Sessions {
  const byHash = new Map<string, string>();
  return {
    issue(orgId) {
      const token = SESSION_PREFIX + randomBytes(32).toString('base64url');
      byHash.set(digest(token), orgId);
      return token;
    },
    verify(token) {
      const orgId = typeof token === 'string' ? byHash.get(digest(token)) : undefined;
      if (!orgId) throw new AppError('UNAUTHORIZED', 'Missing or expired session');
      return { orgId };
    },
    revoke(token) {
      byHash.delete(digest(token));
    },
  };
}
