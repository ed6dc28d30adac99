/**
 * The references `tessella run` is held to (DESIGN.md's performance table), measured on real tiles of the bench
 * slide: each model's bare `session.run` on batches decoded and filled beforehand, in this thread, all cores, at
 * the batch sizes the stages use, ORT's own thread settings (spinning); or as `sessions` side by side, each in a
 * thread of its own with its share of the cores, the batches dealt in turn. One tile through both models (the
 * inference-only limit) follows from the two.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { decodeRgb, resizeForModel } from '../../shared/image.js';
import { readModelCard, type ModelCard } from '../../shared/onnx/card.js';
import { cpuThreadsPerSession, openSession } from '../../shared/onnx/providers.js';
import { fillInput, inputDims } from '../../shared/onnx/tensor.js';
import { readTileRecords } from '../../shared/tile-record.js';

export interface BareRate {
  tilesPerS: number;
  batch: number;
  /** intra-op threads of each session */
  threads: number;
  sessions: number;
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
  o: { batch: number; threads?: number; count: number; rounds: number; slabRows?: number; sessions?: number },
): Promise<BareRate> {
  const card = readModelCard(join(modelDir, 'model.json'));
  const sessions = o.sessions ?? 1;
  const threads = o.threads ?? cpuThreadsPerSession(sessions);
  const batches = await prepare(tilesPath, card, task, o.count, o.batch, o.slabRows);
  if (sessions > 1) {
    const tilesPerS = await sideBySide(
      join(modelDir, 'model.onnx'),
      card.input.name,
      batches,
      sessions,
      threads,
      o.rounds,
    );
    return { tilesPerS, batch: o.batch, threads, sessions };
  }
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
    return { tilesPerS: best, batch: o.batch, threads, sessions };
  } finally {
    await session.release();
  }
}

/**
 * The batches dealt in turn to `sessions` sessions of `threads` threads, each in a worker thread of its own (a
 * session.run holds its thread), after a warm-up batch each; tiles/s of the best round, timed from the start of all
 * to the end of the last.
 */
async function sideBySide(
  modelPath: string,
  inputName: string,
  batches: Prepared,
  sessions: number,
  threads: number,
  rounds: number,
): Promise<number> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const ort = require('onnxruntime-node');
    (async () => {
      const { modelPath, inputName, threads, batches } = workerData;
      const session = await ort.InferenceSession.create(modelPath, {
        executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads, enableMemPattern: false,
      });
      const run = async (b) => {
        const r = await session.run({ [inputName]: new ort.Tensor('float32', b.data, b.dims) });
        for (const v of Object.values(r)) v.dispose();
      };
      await run(batches[0]);
      parentPort.postMessage('ready');
      parentPort.on('message', async (m) => {
        if (m === 'close') return void (await session.release(), parentPort.close());
        for (const b of batches) await run(b);
        parentPort.postMessage('done');
      });
    })();`;
  const share = (k: number) => batches.filter((_, i) => i % sessions === k);
  const workers = Array.from(
    { length: sessions },
    (_, k) => new Worker(code, { eval: true, workerData: { modelPath, inputName, threads, batches: share(k) } }),
  );
  const next = (w: Worker) =>
    new Promise<void>((resolve, reject) => {
      w.once('message', () => resolve());
      w.once('error', reject);
    });
  try {
    await Promise.all(workers.map(next));
    const n = batches.reduce((s, b) => s + b.n, 0);
    let best = 0;
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now();
      const done = workers.map(next);
      for (const w of workers) w.postMessage('go');
      await Promise.all(done);
      best = Math.max(best, n / ((performance.now() - t0) / 1000));
    }
    return best;
  } finally {
    for (const w of workers) w.postMessage('close');
    await Promise.all(workers.map((w) => new Promise((resolve) => w.once('exit', resolve))));
  }
}

/** Tiles/s of one tile going through both models one after the other: 1 / (1/a + 1/b). */
export function bothModels(a: number, b: number): number {
  return 1 / (1 / a + 1 / b);
}
