import { createHash, timingSafeEqual } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { AppError } from '../src-engine/errors.ts';
import type { LedgerDb } from './db/connection.ts';
import { devices } from './db/schema.ts';
import { randomSecret } from './ids.ts';

/*
 * Device tokens are `ldt_<deviceId>.<secret>`: the id finds the row, the secret is checked against
 * its stored SHA-256 in constant time. The token is shown once, at issue; revocation is immediate.
 * The operator's admin token is compared the same way (hash, then constant-time).
 */

const TOKEN = /^ldt_([A-Za-z0-9_-]{8,64})\.([A-Za-z0-9_-]{32,128})$/;

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** Constant-time equality of two secrets of any length (their hashes are compared). */
export function secretsEqual(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

export function newDeviceToken(deviceId: string): { token: string; tokenHash: string } {
  const secret = randomSecret(32);
  return { token: `ldt_${deviceId}.${secret}`, tokenHash: sha256(secret).toString('hex') };
}

export interface DeviceIdentity {
  deviceId: string;
  orgId: string;
}

const unauthorized = () => new AppError('UNAUTHORIZED', 'Missing, unknown or revoked device token');

/** The device (and so the org) a bearer token names; UNAUTHORIZED for anything else. */
export async function authenticateDevice(db: LedgerDb, token: string | undefined): Promise<DeviceIdentity> {
  const m = token ? TOKEN.exec(token) : null;
  if (!m) throw unauthorized();
  const [row] = await db
    .select({
      id: devices.id,
      orgId: devices.orgId,
      tokenHash: devices.tokenHash,
      revokedAt: devices.revokedAt,
    })
    .from(devices)
    .where(eq(devices.id, m[1]!));
  // Hash and compare even when the device is unknown, so timing does not tell which ids exist.
  const presented = sha256(m[2]!);
  const stored = row ? Buffer.from(row.tokenHash, 'hex') : Buffer.alloc(32);
  const same = stored.length === 32 && timingSafeEqual(presented, stored);
  if (!row || !same || row.revokedAt !== null) throw unauthorized();
  return { deviceId: row.id, orgId: row.orgId };
}

/** Checks the operator's admin token; with none configured the admin API is closed. */
export function authenticateAdmin(configured: string | undefined, presented: string | undefined): void {
  if (!configured || presented === undefined || !secretsEqual(configured, presented)) {
    throw new AppError('UNAUTHORIZED', 'Admin token required');
  }
}

/** `Authorization: Bearer <token>`. */
export function bearer(header: string | undefined): string | undefined {
  return header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
}
