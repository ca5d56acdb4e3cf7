import { randomFillSync } from 'node:crypto';

const POOL = 4096;
const pool = Buffer.alloc(POOL);
let used = POOL;
let lastMs = 0;
let counter = 0;

/**
 * A new row id: a UUIDv7 (RFC 9562), time-ordered and unique within the process even within one
 * millisecond (a 12-bit counter in `rand_a`, then 62 random bits). Rows keyed by time-ordered ids are
 * appended at the end of their indexes; random (v4) ids dirty a different index page on every insert,
 * which is most of what the guard's writes cost (bench/README.md, `guard`).
 */
export function uuidv7(now: number = Date.now()): string {
  if (used + 10 > POOL) {
    randomFillSync(pool);
    used = 0;
  }
  let ms = Math.max(now, lastMs);
  if (ms === lastMs) {
    counter++;
    // Counter overflow: borrow the next millisecond rather than repeat or go back in order.
    if (counter > 0xfff) {
      ms++;
      counter = 0;
    }
  } else {
    counter = pool[used]! & 0x3ff; // a random start leaves room to count up within the millisecond
  }
  lastMs = ms;
  const b = Buffer.allocUnsafe(16);
  b.writeUIntBE(ms, 0, 6);
  b[6] = 0x70 | (counter >> 8);
  b[7] = counter & 0xff;
  pool.copy(b, 8, used + 1, used + 9);
  used += 9;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
