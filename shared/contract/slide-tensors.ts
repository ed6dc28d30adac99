/**
 * The per-slide tensors: `embeddings.safetensors` (embed) and `histogram.safetensors` (histogram), read by merge.
 * The builders give the tensors a writer saves; the checks say whether a header has that layout, from the header
 * alone, so a cohort is surveyed without loading its tensors.
 */
import type { HeaderEntry, Tensor } from '../safetensors.js';
import { EMBEDDINGS_FILE, HISTOGRAM_FILE } from './files.js';
import { HISTOGRAM_BINS, HISTOGRAM_BINS_PER_CHANNEL } from './shapes.js';

export interface EmbeddingTensors {
  n: number;
  dim: number;
  /** [n, dim] F32 each: mean- and max-pooled features per tile, tile order. */
  avg: Float32Array;
  max: Float32Array;
  /** [n, 2] I32: slideflow's loc_x, loc_y (the tile's centre in level-0 pixels). */
  loc: Int32Array;
}

/** `embeddings.safetensors`: avg, max [n, D] F32, loc [n, 2] I32. */
export function embeddingTensors(e: EmbeddingTensors): Record<string, Tensor> {
  return {
    avg: { dtype: 'F32', shape: [e.n, e.dim], data: e.avg },
    max: { dtype: 'F32', shape: [e.n, e.dim], data: e.max },
    loc: { dtype: 'I32', shape: [e.n, 2], data: e.loc },
  };
}

/** `histogram.safetensors`: sum [16, 16, 16] F64 (each tile's histogram sums to 1) and count [1] I64 (tiles). */
export function histogramTensors(sum: Float64Array, count: number): Record<string, Tensor> {
  const b = HISTOGRAM_BINS_PER_CHANNEL;
  return {
    sum: { dtype: 'F64', shape: [b, b, b], data: sum },
    count: { dtype: 'I64', shape: [1], data: new BigInt64Array([BigInt(count)]) },
  };
}

/** What histogram.safetensors says of itself in its metadata. */
export const HISTOGRAM_METADATA = {
  bins: String(HISTOGRAM_BINS_PER_CHANNEL),
  index: 'r*256+g*16+b, bin = value >> 4',
  normalized: 'each tile sums to 1; sum over tiles',
} as const;

/** Tiles and width of an embeddings header; throws naming what is off. */
export function checkEmbeddingsHeader(tensors: Record<string, HeaderEntry>): { n: number; dim: number } {
  const { avg, max, loc } = tensors;
  if (!avg || !max || !loc)
    throw new Error(`${EMBEDDINGS_FILE} needs tensors avg, max and loc; it has ${Object.keys(tensors).join(', ')}`);
  if (avg.dtype !== 'F32' || max.dtype !== 'F32' || avg.shape.length !== 2 || max.shape.join() !== avg.shape.join()) {
    throw new Error(
      `${EMBEDDINGS_FILE}: avg and max must be F32 [n, D]; got avg ${avg.dtype} [${avg.shape}], max ${max.dtype} [${max.shape}]`,
    );
  }
  const [n, dim] = avg.shape;
  if (loc.dtype !== 'I32' || loc.shape.join() !== `${n},2`)
    throw new Error(`${EMBEDDINGS_FILE}: loc must be I32 [${n}, 2]; got ${loc.dtype} [${loc.shape}]`);
  return { n, dim };
}

/** Throws naming what is off when a histogram file's tensors lack `sum` of HISTOGRAM_BINS and `count`. */
export function checkHistogramTensors(tensors: Record<string, { shape: number[] }>): void {
  const { sum, count } = tensors;
  if (!sum || !count)
    throw new Error(`${HISTOGRAM_FILE} needs tensors sum and count; it has ${Object.keys(tensors).join(', ')}`);
  if (sum.shape.reduce((a, b) => a * b, 1) !== HISTOGRAM_BINS)
    throw new Error(`${HISTOGRAM_FILE}: sum must hold 16x16x16 bins; shape [${sum.shape}]`);
}
