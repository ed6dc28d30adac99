/**
 * The per-slide tensors: `embeddings.safetensors` (embed) and `histogram.safetensors` (histogram), read by merge.
 * The builders give the tensors a writer saves; the checks say whether a header has that layout, from the header
 * alone, so a cohort is surveyed without loading its tensors.
 */
import type { HeaderEntry, Tensor } from '../safetensors.js';
import { EMBEDDINGS_FILE, HISTOGRAM_FILE } from './files.js';
import {
  EMBEDDING_VECTORS,
  HISTOGRAM_BINS,
  HISTOGRAM_BINS_PER_CHANNEL,
  isDefaultVectors,
  type EmbeddingVector,
} from './shapes.js';

/** Each pooled vector's [n, dim] F32 values per tile, tile order, by name (EMBEDDING_VECTORS). */
export type VectorTensors = Partial<Record<EmbeddingVector, Float32Array>>;

export interface EmbeddingTensors extends VectorTensors {
  n: number;
  dim: number;
  /** [n, 2] I32: slideflow's loc_x, loc_y (the tile's centre in level-0 pixels). */
  loc: Int32Array;
}

/** `embeddings.safetensors`: each pooled vector (avg and max by default; card.ts) [n, D] F32, loc [n, 2] I32. */
export function embeddingTensors(e: EmbeddingTensors): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const v of EMBEDDING_VECTORS) {
    const data = e[v];
    if (data) out[v] = { dtype: 'F32', shape: [e.n, e.dim], data };
  }
  if (!Object.keys(out).length) throw new Error(`${EMBEDDINGS_FILE}: no pooled vector to write`);
  out.loc = { dtype: 'I32', shape: [e.n, 2], data: e.loc };
  return out;
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

/**
 * Tiles, width and pooled vectors (EMBEDDING_VECTORS order) of an embeddings header; throws naming what is off.
 * Tensors other than the vectors and loc are refused: a reader must not drop what it does not know.
 */
export function checkEmbeddingsHeader(tensors: Record<string, HeaderEntry>): {
  n: number;
  dim: number;
  vectors: EmbeddingVector[];
} {
  const names = Object.keys(tensors);
  const vectors = EMBEDDING_VECTORS.filter((v) => tensors[v]);
  const unknown = names.filter((k) => k !== 'loc' && !(EMBEDDING_VECTORS as readonly string[]).includes(k));
  if (!vectors.length || !tensors.loc || unknown.length)
    throw new Error(
      `${EMBEDDINGS_FILE} needs loc and pooled vectors among ${EMBEDDING_VECTORS.join(', ')}; it has ${names.join(', ')}`,
    );
  const first = tensors[vectors[0]];
  for (const v of vectors) {
    const t = tensors[v];
    if (t.dtype !== 'F32' || t.shape.length !== 2 || t.shape.join() !== first.shape.join())
      throw new Error(
        `${EMBEDDINGS_FILE}: ${vectors.join(', ')} must be F32 [n, D] alike; got ${vectors.map((x) => `${x} ${tensors[x].dtype} [${tensors[x].shape}]`).join(', ')}`,
      );
  }
  const [n, dim] = first.shape;
  const { loc } = tensors;
  if (loc.dtype !== 'I32' || loc.shape.join() !== `${n},2`)
    throw new Error(`${EMBEDDINGS_FILE}: loc must be I32 [${n}, 2]; got ${loc.dtype} [${loc.shape}]`);
  return { n, dim, vectors };
}

/** Throws naming what is off when a histogram file's tensors lack `sum` of HISTOGRAM_BINS and `count`. */
export function checkHistogramTensors(tensors: Record<string, { shape: number[] }>): void {
  const { sum, count } = tensors;
  if (!sum || !count)
    throw new Error(`${HISTOGRAM_FILE} needs tensors sum and count; it has ${Object.keys(tensors).join(', ')}`);
  if (sum.shape.reduce((a, b) => a * b, 1) !== HISTOGRAM_BINS)
    throw new Error(`${HISTOGRAM_FILE}: sum must hold 16x16x16 bins; shape [${sum.shape}]`);
}

/**
 * What must agree for slides to share a dataset: the embedding dimension and the pooled vectors. The default vectors
 * are left out, so a dataset of first cards reads as its dimension alone.
 */
export function embeddingLayout(dim: number, vectors: readonly EmbeddingVector[]): string {
  return isDefaultVectors(vectors) ? String(dim) : `${dim} (${vectors.join(', ')})`;
}

/** Why a slide (or shard) of layout `got` is left out of a cohort of layout `cohort`. */
export function layoutDiffers(got: string, cohort: string): string {
  const kind = /^\d+$/.test(got) && /^\d+$/.test(cohort) ? 'embedding dimension' : 'embedding layout';
  return `${kind} ${got} differs from the cohort's ${cohort} (another model?); re-run embed`;
}
