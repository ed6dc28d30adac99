/**
 * Benchmark: normalize and embed, stage path (tile records -> decode -> worker -> pool/encode -> output; normalize
 * writes PNG as its spec does and embed reads those tiles) against
 * `session.run` alone on pre-decoded batches, same model, threads and batch size. Prints tiles/s and the ratio
 * (target >= 0.9). Also tries each provider in EXECUTION_PROVIDERS (default cuda,webgpu,cpu) and says what ran.
 *
 *   npx tsx scripts/bench/models.ts [--tiles 64] [--threads 0] [--embed-onnx PATH] [--normalize-batch 8] [--embed-batch 32]
 *   [--rounds 3] [--providers cuda,webgpu,cpu] [--pixels onnx|js] (--pixels: the stages' PIXEL_CONVERSION)
 * Without --embed-onnx it uses ../shared/fixtures/models/efficientnet-b0-random.onnx when present, else the tiny CNN.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { embedTiles } from '../../stages/embed/embed.js';
import { readNormalizeConfig } from '../../stages/normalize/config.js';
import { normalizeTiles } from '../../stages/normalize/normalize.js';
import { decodeRgb, resizeForModel } from '../../shared/image.js';
import { openModel, type OpenedModel } from '../../shared/onnx/model.js';
import { defaultCpuThreads, openSession, type SessionSettings } from '../../shared/onnx/providers.js';
import { fillInput, inputDims } from '../../shared/onnx/tensor.js';
import { readTileRecords, TileRecordWriter } from '../../shared/tile-record.js';
import { buildModels } from '../models/build.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function tissue(size: number, seed: number): Buffer {
  const px = Buffer.alloc(size * size * 3);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const o = (y * size + x) * 3;
      const n = Math.sin((x + seed * 37) / 13) * Math.cos((y - seed * 11) / 17);
      px[o] = 200 - 60 * n + ((x * 7 + y * 3 + seed) % 9);
      px[o + 1] = 130 - 50 * n + ((x * 5 + y) % 7);
      px[o + 2] = 180 - 30 * n;
    }
  return px;
}

async function writeTileFile(path: string, n: number): Promise<void> {
  const w = await TileRecordWriter.open(path);
  const distinct = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      sharp(tissue(448, i), { raw: { width: 448, height: 448, channels: 3 } })
        .jpeg({ quality: 95 })
        .toBuffer(),
    ),
  );
  for (let i = 0; i < n; i++)
    await w.write({ slide: 'bench', image: distinct[i % distinct.length], locX: 224 + 448 * i, locY: 224 });
  await w.close();
}

type Prepared = { pixels: Uint8Array; k?: number; h: number; w: number };

/**
 * session.run alone on batches decoded and filled beforehand (the ceiling for the stage), in this thread with
 * a session opened with the same provider and threads. Returns a function that times one pass.
 */
async function sessionOnly(
  model: OpenedModel,
  tilesPath: string,
  batch: number,
  settings: SessionSettings,
  prepare: (img: Awaited<ReturnType<typeof decodeRgb>>) => Promise<Prepared>,
) {
  const { card } = model;
  const items: Prepared[] = [];
  for await (const t of readTileRecords(tilesPath)) items.push(await prepare(await decodeRgb(t.image)));
  const batches: { data: Float32Array; dims: number[] }[] = [];
  for (let s = 0; s < items.length; s += batch) {
    const part = items.slice(s, s + batch);
    const { h, w } = part[0];
    const data = new Float32Array(part.length * 3 * h * w);
    part.forEach((p, i) => fillInput(data, i, p.pixels, h, w, card.input, p.k));
    batches.push({ data, dims: inputDims(card.input.layout, part.length, h, w) });
  }
  const { session } = await openSession(join(model.dir, 'model.onnx'), {
    ...settings,
    providers: [model.worker.provider],
  });
  await session.run({ [card.input.name]: new ort.Tensor('float32', batches[0].data, batches[0].dims) }); // warm-up
  return {
    pass: () =>
      timed(items.length, async () => {
        for (const b of batches) {
          const r = await session.run({ [card.input.name]: new ort.Tensor('float32', b.data, b.dims) });
          for (const v of Object.values(r)) v.dispose();
        }
      }),
    release: () => session.release(),
  };
}

interface Pass {
  tilesPerS: number;
  /** CPU milliseconds per tile, all threads of this process (ORT's, libuv's, the worker's). */
  cpuMsPerTile: number;
}

/** Time one pass of `f` over `n` tiles: wall-clock rate and CPU time (load-independent, unlike the rate). */
async function timed(n: number, f: () => Promise<unknown>): Promise<Pass> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await f();
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { tilesPerS: n / seconds, cpuMsPerTile: (c.user + c.system) / 1000 / n };
}

/** Alternate stage and reference passes (other work on the machine hits both alike); best of each. */
async function compare(
  label: string,
  rounds: number,
  stagePass: () => Promise<Pass>,
  refPass: () => Promise<Pass>,
): Promise<void> {
  let stage: Pass = { tilesPerS: 0, cpuMsPerTile: Infinity };
  let ref: Pass = { tilesPerS: 0, cpuMsPerTile: Infinity };
  const best = (a: Pass, b: Pass): Pass => ({
    tilesPerS: Math.max(a.tilesPerS, b.tilesPerS),
    cpuMsPerTile: Math.min(a.cpuMsPerTile, b.cpuMsPerTile),
  });
  for (let r = 0; r < rounds; r++) {
    stage = best(stage, await stagePass());
    ref = best(ref, await refPass());
  }
  console.log(
    `${label}: stage ${stage.tilesPerS.toFixed(1)} tiles/s, session.run alone ${ref.tilesPerS.toFixed(1)} tiles/s, ratio ${(stage.tilesPerS / ref.tilesPerS).toFixed(2)}` +
      ` | CPU per tile: stage ${stage.cpuMsPerTile.toFixed(1)} ms, session.run ${ref.cpuMsPerTile.toFixed(1)} ms (best of ${rounds})`,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tiles: { type: 'string', default: '64' },
      threads: { type: 'string', default: '0' },
      'embed-onnx': { type: 'string' },
      'normalize-batch': { type: 'string', default: '8' },
      'embed-batch': { type: 'string', default: '32' },
      rounds: { type: 'string', default: '3' },
      providers: { type: 'string', default: process.env.EXECUTION_PROVIDERS ?? 'cuda,webgpu,cpu' },
      pixels: { type: 'string', default: 'onnx' },
    },
  });
  const n = Number(values.tiles);
  const settings: SessionSettings = {
    providers: values.providers!.split(','),
    intraOpThreads: Number(values.threads),
    interOpThreads: 0,
  };
  const fixture = resolve(root, '../shared/fixtures/models/efficientnet-b0-random.onnx');
  const embedOnnx = values['embed-onnx'] ?? (existsSync(fixture) ? fixture : undefined);
  const dir = mkdtempSync(join(tmpdir(), 'tessella-bench-models-'));
  sharp.concurrency(0);
  try {
    buildModels({
      out: join(dir, 'models'),
      normalize: 'identity',
      shift: [0, 0, 0],
      embed: 'tiny',
      embedOnnx,
      seed: 0,
    });
    const tiles = join(dir, 'tiles.tfrecord');
    const normalized = join(dir, 'normalized.tfrecord');
    await writeTileFile(tiles, n);
    console.log(
      `tiles: ${n} JPEG 448x448; embed model: ${embedOnnx ?? 'tiny CNN (no fixture)'}; intra-op threads: ${settings.intraOpThreads || `default (${defaultCpuThreads()} on CPU)`}`,
    );

    const rounds = Number(values.rounds);

    // normalize, with the stages' pixel conversion (PIXEL_CONVERSION, default onnx)
    const conversion = values.pixels === 'js' ? 'js' : 'onnx';
    const norm = await openModel(join(dir, 'models', 'normalize'), 'normalize', settings, undefined, { conversion });
    console.log(`pixel conversion: ${conversion} (normalize: ${norm.pixelIo ? 'in the session' : 'in JavaScript'})`);
    for (const a of norm.worker.attempts)
      console.log(`provider ${a.provider}: ${a.error ? 'failed: ' + a.error : 'ran'}`);
    const nb = Number(values['normalize-batch']);
    const normRef = await sessionOnly(norm, tiles, nb, settings, async (img) => ({
      pixels: img.data,
      h: img.height,
      w: img.width,
    }));
    // as the spec runs it: PNG out at the stage's default level (what embed then reads)
    const cfg = readNormalizeConfig({});
    const asSpec = { batchSize: nb, format: cfg.TILE_FORMAT, encoding: { pngLevel: cfg.PNG_COMPRESSION } };
    await normalizeTiles(tiles, join(dir, 'warm.tfrecord'), norm, asSpec);
    await compare(
      `normalize (${norm.worker.provider}, batch ${nb})`,
      rounds,
      () => timed(n, () => normalizeTiles(tiles, normalized, norm, asSpec)),
      () => normRef.pass(),
    );
    await normRef.release();
    await norm.worker.close();

    // embed
    const emb = await openModel(join(dir, 'models', 'embed'), 'embed', settings, undefined, {
      conversion,
      tileSide: 448,
    });
    const eb = Number(values['embed-batch']);
    const size = emb.card.input.size;
    const embRef = await sessionOnly(emb, normalized, eb, settings, async (img) => {
      const r = await resizeForModel(img, size);
      return { pixels: r.data, k: r.k, h: size, w: size };
    });
    await embedTiles(normalized, emb, eb);
    await compare(
      `embed (${emb.worker.provider}, batch ${eb})`,
      rounds,
      () => timed(n, () => embedTiles(normalized, emb, eb)),
      () => embRef.pass(),
    );
    await embRef.release();
    await emb.worker.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
