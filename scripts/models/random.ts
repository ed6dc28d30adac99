import { mulberry32 } from '../../shared/random.js';

/** Seeded so built test models are the same on every machine. */
export const seededRandom = (seed: number): (() => number) => mulberry32(seed);

/** Uniform weights in [-limit, limit]. */
export function uniformWeights(count: number, limit: number, random: () => number): Float32Array {
  const w = new Float32Array(count);
  for (let i = 0; i < count; i++) w[i] = (random() * 2 - 1) * limit;
  return w;
}
