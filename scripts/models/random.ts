/** A small seeded PRNG (mulberry32) so built test models are the same on every machine. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform weights in [-limit, limit]. */
export function uniformWeights(count: number, limit: number, random: () => number): Float32Array {
  const w = new Float32Array(count);
  for (let i = 0; i < count; i++) w[i] = (random() * 2 - 1) * limit;
  return w;
}
