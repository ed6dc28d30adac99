/**
 * Embedding of one slide's normalized tiles (DESIGN.md step 4): decode, bring to the card's size (448 -> 224 by
 * an exact 2x2 mean; see shared/image.ts for other sizes), normalize per the card, run batched in the
 * inference worker, mean- and max-pool each tile's output (map, tokens or pooled), in tile order.
 */
import { embeddingTensors } from '../../shared/contract/index.js';
import type { Logger } from '../../shared/log.js';
import { decodeRgb, resizeForModel } from '../../shared/image.js';
import { describeShape, featureDim } from '../../shared/onnx/card.js';
import { InferenceRunError, runOverlapped } from '../../shared/onnx/inference.js';
import type { OpenedModel } from '../../shared/onnx/model.js';
import { poolFeatures } from '../../shared/onnx/pooling.js';
import { fillInput, inputDims } from '../../shared/onnx/tensor.js';
import { tileBatches } from '../../shared/tiles/index.js';
import { writeSafetensors } from '../../shared/safetensors.js';
import { countTiles } from '../../shared/tile-record.js';

export interface Embeddings {
  n: number;
  dim: number;
  avg: Float32Array;
  max: Float32Array;
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
  const avgParts: Float32Array[] = [];
  const maxParts: Float32Array[] = [];
  const locs: number[] = [];
  const methods = new Set<string>();
  let dim = featureDim(
    card,
    worker.outputs.find((o) => o.name === card.output.name),
  );
  const progress = log?.progress('embed', countTiles(inputPath), 'tiles');
  const batches = tileBatches(inputPath, batchSize, async (record) => {
    const resized = await resizeForModel(await decodeRgb(record.image), size);
    methods.add(resized.method);
    return resized;
  });
  await runOverlapped(
    batches,
    (batch) => {
      const n = batch.items.length;
      const data = new Float32Array(n * 3 * size * size);
      batch.items.forEach((t, i) => fillInput(data, i, t.data, size, size, card.input, t.k));
      return worker.run(card.input.name, card.output.name, data, inputDims(card.input.layout, n, size, size));
    },
    (batch, out) => {
      const n = batch.items.length;
      let pooled;
      try {
        pooled = poolFeatures(out.data, out.dims, card.output.layout, card.pooling.skipTokens);
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
      avgParts.push(pooled.avg);
      maxParts.push(pooled.max);
      for (const r of batch.records) locs.push(r.locX, r.locY);
      progress?.tick(n);
    },
  );
  progress?.finish();
  const n = locs.length / 2;
  if (dim === undefined) {
    throw new InferenceRunError(
      `the slide has no tiles and the model's output shape does not fix the feature width`,
      inputDims(card.input.layout, 0, size, size),
    );
  }
  return {
    n,
    dim,
    avg: concat(avgParts, n * dim),
    max: concat(maxParts, n * dim),
    loc: Int32Array.from(locs),
    resize: [...methods].join(',') || 'none',
  };
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

/** `/<slide>/embeddings.safetensors`: avg, max [n,D] F32, loc [n,2] I32; the model's hash and card in the header. */
export function writeEmbeddings(path: string, e: Embeddings, model: OpenedModel, slide: string): void {
  writeSafetensors(path, embeddingTensors(e), {
    slide,
    model_name: model.card.name,
    model_sha256: model.sha256,
    model_card: JSON.stringify(model.card),
    resize: e.resize,
    pooling: 'mean,max',
    execution_provider: model.worker.provider,
  });
}
