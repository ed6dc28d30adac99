/**
 * tessella's embed on a slide's tiles against the bare model, for scripts/models/check-exports.py:
 *   node --import tsx scripts/models/embed-throughput.ts --model DIR --tiles tiles.tfrecord --out vectors.safetensors
 *        [--batch 32] [--threads 0] [--repeat 3]
 * Runs embed's own path (stages/embed/embed.ts: decode, the 2x2 mean and the card's arithmetic as ONNX nodes,
 * inference in the worker, pooling per the card) on every tile, writes the pooled vectors, then times the bare
 * `session.run` of the same model on the same number of float tiles, same batch and threads. Each is run once to
 * warm up, then both are timed in turn `repeat` times and the best of each kept. Prints one JSON line.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { embeddingTensors, MODEL_FILE } from '../../shared/contract/index.js';
import { openModel } from '../../shared/onnx/model.js';
import { openSession } from '../../shared/onnx/providers.js';
import { writeSafetensors } from '../../shared/safetensors.js';
import { firstTileSide } from '../../shared/tiles/index.js';
import { embedTiles } from '../../stages/embed/embed.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    tiles: { type: 'string' },
    out: { type: 'string' },
    batch: { type: 'string', default: '32' },
    threads: { type: 'string', default: '0' },
    repeat: { type: 'string', default: '3' },
  },
});
if (!values.model || !values.tiles || !values.out) {
  process.stderr.write(
    'usage: embed-throughput --model DIR --tiles tiles.tfrecord --out FILE [--batch N] [--threads N]\n',
  );
  process.exit(2);
}
const dir = resolve(values.model);
const tiles = resolve(values.tiles);
const batch = Number(values.batch);
const repeat = Number(values.repeat);
const settings = { providers: ['cpu'], intraOpThreads: Number(values.threads), interOpThreads: 0 };

const model = await openModel(dir, 'embed', settings, undefined, {
  conversion: 'onnx',
  tileSide: await firstTileSide(tiles),
});
// the bare model beside it: float inputs made once, ahead of the clock; only session.run is timed
const { session } = await openSession(resolve(dir, MODEL_FILE), settings);
const { card } = model;
const size = card.input.size;
const half = session.inputMetadata.find((m) => m.name === card.input.name && m.isTensor && m.type === 'float16');
const count = (await embedTiles(tiles, model, batch)).n; // also the warm-up
const batches: ort.Tensor[] = [];
for (let done = 0; done < count; done += batch) {
  const n = Math.min(batch, count - done);
  const dims = card.input.layout === 'NCHW' ? [n, 3, size, size] : [n, size, size, 3];
  const values = n * 3 * size * size;
  batches.push(
    half
      ? new ort.Tensor('float16', new Uint16Array(values).fill(0x3c00), dims)
      : new ort.Tensor('float32', new Float32Array(values).fill(0.5), dims),
  );
}
const runBare = async () => {
  for (const x of batches) await session.run({ [card.input.name]: x }, [card.output.name]);
};
await runBare(); // warm-up
// interleaved, best of `repeat` each: on a shared machine a neighbour's burst then hits both alike
let embedSeconds = Infinity;
let bareSeconds = Infinity;
let e = undefined as Awaited<ReturnType<typeof embedTiles>> | undefined;
try {
  for (let r = 0; r < repeat; r++) {
    const t0 = performance.now();
    e = await embedTiles(tiles, model, batch);
    embedSeconds = Math.min(embedSeconds, (performance.now() - t0) / 1000);
    const t1 = performance.now();
    await runBare();
    bareSeconds = Math.min(bareSeconds, (performance.now() - t1) / 1000);
  }
} finally {
  await model.worker.close();
  await session.release();
}
if (!e) throw new Error('--repeat must be at least 1');
writeSafetensors(resolve(values.out), embeddingTensors(e), { vectors: e.vectors.join(','), resize: e.resize });

process.stdout.write(
  JSON.stringify({
    tiles: e.n,
    dim: e.dim,
    vectors: e.vectors,
    batch,
    repeat,
    embed_s: embedSeconds,
    embed_tiles_per_s: e.n / embedSeconds,
    bare_s: bareSeconds,
    bare_tiles_per_s: e.n / bareSeconds,
    ratio: bareSeconds / embedSeconds,
  }) + '\n',
);
