/**
 * Mean and max pooling of a feature extractor's output to one D-vector per tile:
 * NCHW / NHWC maps over H*W, NLC tokens over L (after skipping `skipTokens`), NC is already pooled (avg = max).
 */
import type { EmbeddingVector } from '../contract/shapes.js';
import type { ModelCard, PoolingPlan } from './card.js';
import { describeShape } from './card.js';

export interface Pooled {
  n: number;
  dim: number;
  avg: Float32Array;
  max: Float32Array;
}

/** Walks D features over `positions` positions with strides (feature stride, position stride) per tile. */
function pool(
  data: Float32Array,
  n: number,
  dim: number,
  positions: number,
  tileStride: number,
  featStride: number,
  posStride: number,
  skip: number,
): Pooled {
  const avg = new Float32Array(n * dim);
  const max = new Float32Array(n * dim);
  const count = positions - skip;
  for (let t = 0; t < n; t++) {
    for (let d = 0; d < dim; d++) {
      let sum = 0; // float64 accumulation
      let m = -Infinity;
      let p = t * tileStride + d * featStride + skip * posStride;
      for (let k = 0; k < count; k++, p += posStride) {
        const v = data[p];
        sum += v;
        if (v > m) m = v;
      }
      avg[t * dim + d] = sum / count;
      max[t * dim + d] = m;
    }
  }
  return { n, dim, avg, max };
}

export function poolFeatures(
  data: Float32Array,
  dims: number[],
  layout: ModelCard['output']['layout'],
  skipTokens = 0,
): Pooled {
  const want = { NCHW: 4, NHWC: 4, NLC: 3, NC: 2 }[layout];
  if (dims.length !== want)
    throw new Error(
      `the model returned ${describeShape(dims)} but the card's output layout ${layout} needs rank ${want}`,
    );
  const total = dims.reduce((a, b) => a * b, 1);
  if (total !== data.length) throw new Error(`output ${describeShape(dims)} holds ${total} values, got ${data.length}`);
  const n = dims[0];
  switch (layout) {
    case 'NCHW': {
      const [, c, h, w] = dims;
      return pool(data, n, c, h * w, c * h * w, h * w, 1, 0);
    }
    case 'NHWC': {
      const [, h, w, c] = dims;
      return pool(data, n, c, h * w, c * h * w, 1, c, 0);
    }
    case 'NLC': {
      const [, l, c] = dims;
      if (skipTokens >= l)
        throw new Error(
          `pooling.skipTokens is ${skipTokens} but the model returned only ${l} tokens ${describeShape(dims)}`,
        );
      return pool(data, n, c, l, l * c, 1, c, skipTokens);
    }
    case 'NC': {
      const [, c] = dims;
      return { n, dim: c, avg: data.slice(), max: data.slice() };
    }
  }
}

/** Each tile's pooled vectors, [n * dim] each, by name. */
export interface PooledVectors {
  n: number;
  dim: number;
  vectors: Partial<Record<EmbeddingVector, Float32Array>>;
}

/** The class token (token 0) of each tile of NLC tokens [n, l, c]. */
function classTokens(data: Float32Array, n: number, l: number, c: number): Float32Array {
  const out = new Float32Array(n * c);
  for (let t = 0; t < n; t++) out.set(data.subarray(t * l * c, t * l * c + c), t * c);
  return out;
}

/** The vectors a card's pooling plan writes (card.ts: POOLING_MODES), from one batch's output. */
export function poolVectors(
  data: Float32Array,
  dims: number[],
  layout: ModelCard['output']['layout'],
  plan: PoolingPlan,
): PooledVectors {
  const wants = new Set(plan.vectors);
  const vectors: PooledVectors['vectors'] = {};
  if (wants.has('cls') && layout !== 'NLC')
    throw new Error(`pooling mode ${plan.mode} reads the class token, but the output layout is ${layout}`);
  const pooled = poolFeatures(data, dims, layout, layout === 'NLC' ? plan.prefixTokens : 0);
  if (wants.has('avg')) vectors.avg = pooled.avg;
  if (wants.has('max')) vectors.max = pooled.max;
  if (wants.has('cls')) vectors.cls = classTokens(data, pooled.n, dims[1], pooled.dim);
  return { n: pooled.n, dim: pooled.dim, vectors };
}

/**
 * The vectors a session pooled itself (pixel-io.ts PoolRequest), one batch's [n, vectors x dim] in `order`: each
 * vector's [n, dim], as poolVectors gives them.
 */
export function sessionPooledVectors(
  data: Float32Array,
  dims: number[],
  order: readonly EmbeddingVector[],
): PooledVectors {
  const [n, width] = dims;
  if (dims.length !== 2 || width % order.length)
    throw new Error(`the session returned ${describeShape(dims)}, not ${order.length} pooled vectors per tile`);
  const dim = width / order.length;
  const vectors: PooledVectors['vectors'] = {};
  order.forEach((v, j) => {
    const out = new Float32Array(n * dim);
    for (let t = 0; t < n; t++) out.set(data.subarray(t * width + j * dim, t * width + (j + 1) * dim), t * dim);
    vectors[v] = out;
  });
  return { n, dim, vectors };
}
