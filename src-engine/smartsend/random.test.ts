import { describe, expect, it } from 'vitest';
import { randomInt, seededRandom } from './random.ts';

describe('seeded random', () => {
  it('repeats its sequence for a seed and differs between seeds', () => {
    const draw = (seed: number) => Array.from({ length: 5 }, seededRandom(seed));
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
  });

  it('draws in [0, 1), evenly', () => {
    const random = seededRandom(1);
    const buckets = new Array<number>(10).fill(0);
    let outside = 0;
    for (let i = 0; i < 100_000; i++) {
      const x = random();
      if (x < 0 || x >= 1) outside++;
      else buckets[Math.floor(x * 10)]!++;
    }
    expect(outside).toBe(0);
    for (const n of buckets) expect(Math.abs(n - 10_000)).toBeLessThan(400);
  });

  it('draws whole numbers in an inclusive range, hitting both ends', () => {
    const random = seededRandom(2);
    const seen = new Set(Array.from({ length: 1000 }, () => randomInt(random, 20, 25)));
    expect([...seen].sort()).toEqual([20, 21, 22, 23, 24, 25]);
    expect(randomInt(() => 0.999_999_999, 3, 3)).toBe(3);
  });
});
