/**
 * Embedding of one slide's normalized tiles (DESIGN.md step 4): decode, bring to the card's size (448 -> 224 by
 * an exact 2x2 mean; see shared/image.ts for other sizes), normalize per the card, run batched in the
 * inference worker, pool each tile's output (map, tokens or pooled) to the vectors of the card's pooling mode, in
 * tile order. With a model wrapped for pixels (model.pixelIo) the card's arithmetic runs inside the worker, on uint8
 * tiles (the mean too) or, on CPU, on their 2x2 block sums, taken here; and a CNN's map is pooled there too
 * (pixel-io.ts PoolRequest), the same bits.
 */
import {
  EMBEDDING_VECTORS,
  embeddingTensors,
  isDefaultVectors,
  type EmbeddingVector,
  type VectorTensors,
} from '../../shared/contract/index.js';
import type { Logger } from '../../shared/log.js';
import { decodeRgb, imageFormatOf, resizeForModel, resizeLinear } from '../../shared/image.js';
import { decodePlainPng } from '../../shared/png.js';
import type { RgbImage } from '../../shared/slide/index.js';
import { BufferPool } from '../../shared/slide/buffer-pool.js';
import { describeShape, featureDim, poolingPlan } from '../../shared/onnx/card.js';
import { InferenceRunError, runOverlapped } from '../../shared/onnx/inference.js';
import { PairSums, pairSumsFit } from '../../shared/onnx/pair-sums-kernel.js';
import type { OpenedModel } from '../../shared/onnx/model.js';
import { poolVectors, sessionPooledVectors } from '../../shared/onnx/pooling.js';
import { blockSums, fillInput, inputDims, pixelBatch, sumsBatch } from '../../shared/onnx/tensor.js';
import { tileBatches } from '../../shared/tiles/index.js';
import { writeSafetensors } from '../../shared/safetensors.js';
import { countTiles } from '../../shared/tile-record.js';

export interface Embeddings extends VectorTensors {
  n: number;
  dim: number;
  /** The pooled vectors written (the card's pooling mode), EMBEDDING_VECTORS order. */
  vectors: EmbeddingVector[];
  /** [n,2]: slideflow's loc_x, loc_y per tile. */
  loc: Int32Array;
  /** How tiles were brought to the model's size ('2x2-mean', 'none', 'sharp-linear'). */
  resize: string;
}

export async function embedTiles(
  inputPath: string,
  model: OpenedModel,
  batchSize: number,
  log?: Logger,
): Promise<Embeddings> {
  const { card, worker } = model;
  const size = card.input.size;
  const plan = poolingPlan(card);
  const vectors = EMBEDDING_VECTORS.filter((v) => plan.vectors.includes(v));
  const parts: Record<string, Float32Array[]> = Object.fromEntries(vectors.map((v) => [v, []]));
  const locs: number[] = [];
  const methods = new Set<string>();
  let dim = featureDim(
    card,
    worker.outputs.find((o) => o.name === card.output.name),
  );
  const total = countTiles(inputPath);
  const progress = log?.progress('embed', total, 'tiles');
  const pixelIo = model.pixelIo;
  // a tile's pixels (or sums) are copied into the batch's input when it runs: their buffer then serves a later tile
  const tilePixels = new BufferPool(2 * batchSize);
  // normalize's tiles (stored PNGs) decode into the block-sums kernel's memory and are summed there
  const kernel = pixelIo?.sums && pixelIo.k === 2 && pairSumsFit(size * 2) ? new PairSums(size * 2) : undefined;
  const batches = tileBatches(inputPath, batchSize, async (record) => {
    const viaKernel = kernel && decodeForKernel(record.image, kernel, tilePixels);
    if (viaKernel && 'sums' in viaKernel) {
      methods.add('2x2-mean');
      return { data: viaKernel.sums, k: 2, method: '2x2-mean' };
    }
    const img = viaKernel?.img ?? (await decodeRgb(record.image, (bytes) => tilePixels.take(bytes)));
    const resized = pixelIo ? await asModelPixels(img, size, pixelIo.k) : await resizeForModel(img, size);
    methods.add(resized.method);
    // a wrapped model's tiles are bytes (asModelPixels)
    if (pixelIo?.sums) return { ...resized, data: summed(resized.data as Uint8Array, size, pixelIo.k, tilePixels) };
    return resized as { data: Uint8Array | Float32Array | Uint16Array; k: number; method: string };
  });
  await runOverlapped(
    batches,
    (batch) => {
      const n = batch.items.length;
      if (pixelIo) {
        const side = size * pixelIo.k;
        const tiles = batch.items.map((t) => t.data);
        const into = (bytes: number) => worker.inputBuffer(bytes);
        const { data, dims } = pixelIo.sums
          ? sumsBatch(tiles as Uint16Array[], size, into)
          : pixelBatch(tiles as Uint8Array[], side, side, into);
        for (const t of batch.items) tilePixels.give(t.data);
        return worker.run(pixelIo.input, pixelIo.output, data, dims);
      }
      const data = new Float32Array(n * 3 * size * size);
      batch.items.forEach((t, i) =>
        fillInput(data, i, t.data as Uint8Array | Float32Array, size, size, card.input, t.k),
      );
      for (const t of batch.items) tilePixels.give(t.data);
      return worker.run(card.input.name, card.output.name, data, inputDims(card.input.layout, n, size, size));
    },
    (batch, out) => {
      const n = batch.items.length;
      let pooled;
      try {
        if (!(out.data instanceof Float32Array)) throw new Error(`the model returned bytes, not float32 features`);
        pooled = pixelIo?.pooled
          ? sessionPooledVectors(out.data, out.dims, pixelIo.pooled)
          : poolVectors(out.data, out.dims, card.output.layout, plan);
      } catch (err) {
        throw new InferenceRunError((err as Error).message, inputDims(card.input.layout, n, size, size));
      }
      if (pooled.n !== n) {
        throw new InferenceRunError(
          `the model returned ${describeShape(out.dims)} for a batch of ${n} tiles`,
          inputDims(card.input.layout, n, size, size),
        );
      }
      if (dim !== undefined && pooled.dim !== dim) {
        throw new InferenceRunError(
          `the model returned ${describeShape(out.dims)}: ${pooled.dim} features, earlier ${dim}`,
          inputDims(card.input.layout, n, size, size),
        );
      }
      dim = pooled.dim;
      worker.recycle(out);
      for (const v of vectors) parts[v].push(pooled.vectors[v]!);
      for (const r of batch.records) locs.push(r.locX, r.locY);
      progress?.tick(n);
    },
    // the tiles decode on this thread (normalize's PNGs), so asking for the next batch early gains nothing (443
    // tiles: 0.94-0.99x)
    { depth: () => queueDepth(worker) },
  );
  progress?.finish();
  const n = locs.length / 2;
  if (dim === undefined) {
    throw new InferenceRunError(
      `the slide has no tiles and the model's output shape does not fix the feature width`,
      inputDims(card.input.layout, 0, size, size),
    );
  }
  const width = dim;
  return {
    n,
    dim,
    vectors,
    ...Object.fromEntries(vectors.map((v) => [v, concat(parts[v], n * width)])),
    loc: Int32Array.from(locs),
    resize: [...methods].join(',') || 'none',
  };
}

/**
 * Batches in the worker at once: each session has one queued behind the one it runs while this thread consumes the
 * oldest result and makes the next (sessions join as they open). With one queued for all, a session that ended while
 * this thread was busy waited for it: sessions busy 1.915 against 1.93 of 2, the loop 1.4% slower (median of ten
 * alternated pairs, 443 tiles).
 */
export function queueDepth(worker: OpenedModel['worker']): number {
  return 2 * worker.sessions;
}

/**
 * One batch of black tiles of `tileSide` through each session once all are open, as embedTiles would send them, the
 * outputs dropped: a new session's first runs cost more (ONNX Runtime's memory paged in, its threads started; ~0.1-0.2
 * s of B0's first two batches here), paid this way before the first datum by a model opened ahead of it.
 */
export async function warmUp(model: OpenedModel, batchSize: number, tileSide: number): Promise<void> {
  const { card, worker, pixelIo } = model;
  await worker.allOpen();
  const size = card.input.size;
  const n = batchSize;
  let batch: { data: Float32Array | Uint8Array | Uint16Array; dims: number[] };
  if (pixelIo?.sums) batch = sumsBatch(Array(n).fill(new Uint16Array(3 * size * size)), size);
  else if (pixelIo) batch = pixelBatch(Array(n).fill(new Uint8Array(tileSide * tileSide * 3)), tileSide, tileSide);
  else batch = { data: new Float32Array(n * 3 * size * size), dims: inputDims(card.input.layout, n, size, size) };
  const input = pixelIo?.input ?? card.input.name;
  const output = pixelIo?.output ?? card.output.name;
  // sent together, the batches go one to each session (the least busy); run() takes the data's buffer, so each its own
  const runs = Array.from({ length: worker.sessions }, () =>
    worker.run(input, output, batch.data.slice(), batch.dims, undefined, { uncounted: true }),
  );
  for (const out of await Promise.all(runs)) worker.recycle(out);
}

/**
 * A tile as a wrapped model takes it: bytes of side k x size (the k x k mean is the model's first node). A tile of
 * another side (none from tile-extract, whose tiles share one size) is resized to that side with sharp first.
 */
async function asModelPixels(
  img: RgbImage,
  size: number,
  k: number,
): Promise<{ data: Uint8Array; k: number; method: string }> {
  const side = size * k;
  const mean = k === 1 ? 'none' : `${k}x${k}-mean`;
  if (img.width === side && img.height === side) return { data: img.data, k, method: mean };
  return { data: await resizeLinear(img, side), k, method: k === 1 ? 'sharp-linear' : `sharp-linear,${mean}` };
}

/**
 * A tile's k x k block sums (tensor.ts blockSums), taken as soon as it is decoded, while its bytes are still in the
 * cache (summed when its batch was sent, the same loop took 1.4x the time in the stage); its buffer goes back to `pool`.
 */
function summed(pixels: Uint8Array, size: number, k: number, pool: BufferPool): Uint16Array {
  const sums = pooledSums(pool, size);
  blockSums(sums, 0, pixels, size * k, k);
  pool.give(pixels);
  return sums;
}

/** A buffer from `pool` for a tile's sums at the model's `size`: three planes of uint16. */
function pooledSums(pool: BufferPool, size: number): Uint16Array {
  const values = 3 * size * size;
  const held = pool.take(2 * values);
  return new Uint16Array(held.buffer, held.byteOffset, values);
}

/**
 * A plain PNG decoded into the kernel's memory and, at the kernel's side, summed there into a buffer from `pool`,
 * all before the caller first awaits: no other tile's decode comes between. Otherwise its image, out of the kernel's
 * memory; undefined for a tile that is no plain PNG (the caller decodes it the general way).
 */
function decodeForKernel(
  image: Uint8Array,
  kernel: PairSums,
  pool: BufferPool,
): { sums: Uint16Array } | { img: RgbImage } | undefined {
  if (imageFormatOf(image) !== 'png') return undefined;
  const img = decodePlainPng(image, (bytes) => (bytes === kernel.pixels.length ? kernel.pixels : pool.take(bytes)));
  if (!img) return undefined;
  // the decoder gives a view of the buffer it was given
  if (img.data.buffer !== kernel.pixels.buffer) return { img };
  if (img.width === kernel.side && img.height === kernel.side) {
    const sums = pooledSums(pool, kernel.side / 2);
    kernel.sums(sums, 0);
    return { sums };
  }
  // as many bytes in another shape: copied out of the kernel's memory before anything awaits
  const copy = pool.take(img.data.length);
  copy.set(img.data);
  return { img: { ...img, data: copy } };
}

function concat(parts: Float32Array[], length: number): Float32Array {
  const out = new Float32Array(length);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * `/<slide>/embeddings.safetensors`: the card's pooled vectors (avg, max by default) [n,D] F32, loc [n,2] I32; the
 * model's hash and card in the header. Keys beyond the first cards' are written only when they say something (a
 * pooling mode, a geometry, a precision), so a first card's file keeps its bytes.
 */
export function writeEmbeddings(path: string, e: Embeddings, model: OpenedModel, slide: string): void {
  const { card } = model;
  const extra: Record<string, string> = {};
  if (!isDefaultVectors(e.vectors)) {
    const plan = poolingPlan(card);
    extra.vectors = e.vectors.join(',');
    if (card.output.layout === 'NLC') extra.prefix_tokens = String(plan.prefixTokens);
  }
  if (card.geometry) {
    extra.model_mpp = String(card.geometry.mpp);
    extra.model_size = String(card.geometry.size ?? card.input.size);
    extra.model_input_size = String(card.input.size);
  }
  if (model.precision && model.precision !== 'float32') extra.precision = model.precision;
  writeSafetensors(path, embeddingTensors(e), {
    slide,
    model_name: card.name,
    model_sha256: model.sha256,
    model_card: JSON.stringify(card),
    resize: e.resize,
    pooling: isDefaultVectors(e.vectors) ? 'mean,max' : poolingPlan(card).mode,
    execution_provider: model.worker.provider,
    // onnx: the card's arithmetic in the session (float32), js: in JavaScript; embeddings agree to ~1e-5
    pixel_conversion: model.pixelIo ? 'onnx' : 'js',
    ...extra,
  });
}
