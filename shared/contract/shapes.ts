/** Shape constants of the formats between stages. */

/** Colour histogram: bins per RGB channel (bin = value >> 4) ... */
export const HISTOGRAM_BINS_PER_CHANNEL = 16;
/** ... and bins in all, index r*256 + g*16 + b: histogram.safetensors' `sum` and the record's `color_histogram`. */
export const HISTOGRAM_BINS = HISTOGRAM_BINS_PER_CHANNEL ** 3;
/**
 * The pooled vectors an embed model's card can write (shared/onnx/card.ts: pooling modes), in this order: each is
 * a tensor `<name>` [n, D] of embeddings.safetensors and a feature `embedding_<name>` of the patient record.
 */
export const EMBEDDING_VECTORS = ['avg', 'max', 'cls'] as const;
export type EmbeddingVector = (typeof EMBEDDING_VECTORS)[number];
/** What every card wrote before pooling modes, and what a card without one writes: outputs keep their bytes. */
export const DEFAULT_EMBEDDING_VECTORS: readonly EmbeddingVector[] = ['avg', 'max'];

/** Whether `vectors` are the default pair (files then leave the list out, as before pooling modes). */
export function isDefaultVectors(vectors: readonly string[]): boolean {
  return vectors.join(',') === DEFAULT_EMBEDDING_VECTORS.join(',');
}
