/** The randomness port: a number in [0, 1). Every random choice SmartSend makes goes through one. */
export type Random = () => number;

/**
 * A seedable PRNG (mulberry32: 32-bit state, full period 2^32, passes the usual statistical
 * batteries for this use). The same seed gives the same sequence, so schedules are reproducible.
 */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A whole number drawn uniformly in [min, max] (both included). */
export function randomInt(random: Random, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}
