/**
 * Seeded pseudo-random numbers (mulberry32). Every random choice of the
 * pipeline (splits, shuffling, dropout masks, bootstrap resamples) draws from
 * one of these so that a run is repeatable; Math.random is never used.
 */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, maxExclusive). */
  int(maxExclusive: number): number;
  /** A fresh positive 31-bit seed for TensorFlow.js ops that take one (0 would mean "unseeded" there). */
  seed(): number;
}

/**
 * Creates a generator from a seed.
 * @param seed any integer; equal seeds give equal sequences
 */
export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (maxExclusive) => Math.floor(next() * maxExclusive),
    seed: () => 1 + Math.floor(next() * 0x7ffffffe),
  };
}

/**
 * A shuffled copy (Fisher-Yates).
 * @param items the values to shuffle; left unchanged
 * @param random the generator to draw from
 */
export function shuffled<T>(items: readonly T[], random: Random): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}
