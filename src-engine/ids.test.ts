import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { uuidv7 } from './ids.ts';

describe('uuidv7', () => {
  it('makes RFC 9562 version-7 UUIDs that zod accepts', () => {
    const id = uuidv7();
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(z.uuid().safeParse(id).success).toBe(true);
  });

  it('carries the millisecond it was made at in its first 48 bits', () => {
    // Later than any id made so far in this process (ids never go back in time), whatever today is.
    const at = Date.now() + 10_000_000;
    const id = uuidv7(at);
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(at);
  });

  it('sorts in creation order and never repeats, also many within one millisecond and with the clock going back', () => {
    const t = Date.now() + 20_000_000;
    const ids = [
      ...Array.from({ length: 10_000 }, () => uuidv7(t)), // more than the 12-bit counter holds
      ...Array.from({ length: 100 }, () => uuidv7(t - 5_000)), // a clock step back
      ...Array.from({ length: 100 }, (_, i) => uuidv7(t + 10 + i)),
    ];
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });
});
