import { createHash, randomBytes } from 'node:crypto';

/** The namespace of every deterministic id the ledger makes (UUIDv5, RFC 9562). */
const NAMESPACE = Buffer.from('6f1c1a52-3c55-4a0e-9d3b-6b0c5e2a7d41'.replace(/-/g, ''), 'hex');

/**
 * A UUIDv5 of `name`: the same name always gives the same id, so work that may run twice (the
 * billing job, a redelivered Stripe event) writes the same transfer ids and the ledger keeps one.
 */
export function deterministicId(name: string): string {
  const hash = createHash('sha1').update(NAMESPACE).update(name, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A random url-safe secret of `bytes` bytes. */
export const randomSecret = (bytes = 32): string => randomBytes(bytes).toString('base64url');
