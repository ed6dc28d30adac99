/**
 * The references `tessella run` is held to (DESIGN.md's performance table), measured on real tiles of the bench
 * slide: each model's bare `session.run` on batches decoded and filled beforehand, in this thread, all cores, at
 * the batch sizes the stages use, ORT's own thread settings (spinning); one tile through both models (the inference-only limit) follows from the two.
 */
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { decodeRgb, resizeForModel } from '../../shared/image.js';
import { readModelCard, type ModelCard } from '../../shared/onnx/card.js';
import { openSession } from '../../shared/onnx/providers.js';
import { fillInput, inputDims } from '../../shared/onnx/tensor.js';
import { readTileRecords } from '../../shared/tile-record.js';

export interface BareRate {
  tilesPerS: number;
  batch: number;
  threads: number;
}

type Prepared = { data: Float32Array; dims: number[]; n: number }[];

/** The first `count` tiles of `tilesPath` as the model's input batches (decoded, resized, filled). */
async function prepare(
  tilesPath: string,
  card: ModelCard,
  task: 'normalize' | 'embed',
  count: number,
  batch: number,
  slabRows?: number,
): Promise<Prepared> {
  const pixels: { data: Uint8Array; k: number }[] = [];
  let side = 0;
  for await (const t of readTileRecords(tilesPath)) {
    const img = await decodeRgb(t.image);
    side = task === 'embed' ? card.input.size : img.width;
    pixels.push(task === 'embed' ? await resizeForModel(img, side) : { data: img.data, k: 1 });
    if (pixels.length >= count) break;
  }
  const out: Prepared = [];
  if (slabRows) {
    // a pixel-by-pixel model as the normalize stage runs it on CPU: slabs of rows, one tile at a time
    for (const p of pixels) {
      for (let y = 0; y < side; y += slabRows) {
        const rows = Math.min(slabRows, side - y);
        const data = new Float32Array(3 * rows * side);
        fillInput(data, 0, p.data.subarray(y * side * 3, (y + rows) * side * 3), rows, side, card.input, p.k);
        out.push({ data, dims: inputDims(card.input.layout, 1, rows, side), n: y === 0 ? 1 : 0 });
      }
    }
    return out;
  }
  for (let s = 0; s < pixels.length; s += batch) {
    const part = pixels.slice(s, s + batch);
    const data = new Float32Array(part.length * 3 * side * side);
    part.forEach((p, i) => fillInput(data, i, p.data, side, side, card.input, p.k));
    out.push({ data, dims: inputDims(card.input.layout, part.length, side, side), n: part.length });
  }
  return out;
}

/**
 * Bare session.run of the model in `modelDir` over the first `count` tiles, `rounds` passes after a warm-up;
 * the best pass (the one other load on the machine disturbed least).
 */
export async function bareRate(
  modelDir: string,
  task: 'normalize' | 'embed',
  tilesPath: string,
  o: { batch: number; threads?: number; count: number; rounds: number; slabRows?: number },
): Promise<BareRate> {
  const card = readModelCard(join(modelDir, 'model.json'));
  const threads = o.threads ?? availableParallelism();
  const batches = await prepare(tilesPath, card, task, o.count, o.batch, o.slabRows);
  const { session } = await openSession(join(modelDir, 'model.onnx'), {
    providers: ['cpu'],
    intraOpThreads: threads,
    interOpThreads: 0,
    spinning: true,
  });
  try {
    const run = async (b: Prepared[number]) => {
      const r = await session.run({ [card.input.name]: new ort.Tensor('float32', b.data, b.dims) });
      for (const v of Object.values(r)) v.dispose();
    };
    await run(batches[0]);
    let best = 0;
    const n = batches.reduce((s, b) => s + b.n, 0);
    for (let r = 0; r < o.rounds; r++) {
      const t0 = performance.now();
      for (const b of batches) await run(b);
      best = Math.max(best, n / ((performance.now() - t0) / 1000));
    }
    return { tilesPerS: best, batch: o.batch, threads };
  } finally {
    await session.release();
  }
}

/** Tiles/s of one tile going through both models one after the other: 1 / (1/a + 1/b). */
export function bothModels(a: number, b: number): number {
  return 1 / (1 / a + 1 / b);
}
