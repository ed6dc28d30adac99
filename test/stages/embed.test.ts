import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { buildModels } from '../../scripts/models/build.js';
import { tinyCnnCard } from '../../scripts/models/tiny-cnn.js';
import { buildTinyCnn } from '../../scripts/models/tiny-cnn.js';
import { writeModelFolder } from '../../scripts/models/write.js';
import { readSafetensors } from '../../shared/safetensors.js';
import { writeSlideError } from '../../shared/slide-error.js';
import { encodePng } from '../../shared/png.js';
import {
  fixtureModel,
  fixtureModelMissing,
  runStage,
  syntheticTiles,
  tissuePixels,
  writeTiles,
} from '../onnx/helpers.js';
import { tempDir } from '../helpers/dirs.js';

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

/** The reference path, written independently of the stage: decode, 2x2 mean, ImageNet normalization, NCHW. */
async function referenceInput(images: Buffer[]): Promise<Float32Array> {
  const S = 224;
  const x = new Float32Array(images.length * 3 * S * S);
  for (let t = 0; t < images.length; t++) {
    const { data, info } = await sharp(images[t]).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    assert.equal(info.width, 448);
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < S; y++) {
        for (let xx = 0; xx < S; xx++) {
          const at = (yy: number, xc: number) => data[(yy * 448 + xc) * 3 + c];
          const v = (at(2 * y, 2 * xx) + at(2 * y, 2 * xx + 1) + at(2 * y + 1, 2 * xx) + at(2 * y + 1, 2 * xx + 1)) / 4;
          x[((t * 3 + c) * S + y) * S + xx] = (v / 255 - MEAN[c]) / STD[c];
        }
      }
    }
  }
  return x;
}

/** Each tile's mean and max over the positions of the model's [N,1280,7,7] map, from its own session. */
async function directVectors(modelPath: string, images: Buffer[]): Promise<{ avg: Float32Array; max: Float32Array }> {
  const n = images.length;
  const session = await ort.InferenceSession.create(modelPath);
  const out = (await session.run({ input: new ort.Tensor('float32', await referenceInput(images), [n, 3, 224, 224]) }))
    .features;
  assert.deepEqual(out.dims, [n, 1280, 7, 7]);
  const raw = out.data as Float32Array;
  const avg = new Float32Array(n * 1280);
  const max = new Float32Array(n * 1280).fill(-Infinity);
  for (let t = 0; t < n; t++) {
    for (let c = 0; c < 1280; c++) {
      for (let p = 0; p < 49; p++) {
        const v = raw[(t * 1280 + c) * 49 + p];
        avg[t * 1280 + c] += v / 49;
        max[t * 1280 + c] = Math.max(max[t * 1280 + c], v);
      }
    }
  }
  return { avg, max };
}

function assertClose(actual: Float32Array, expected: Float32Array, what: string, tol = 1e-4): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (d > tol * Math.max(1, Math.abs(expected[i]))) assert.fail(`${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

describe('embed stage (run as the engine runs a datum)', () => {
  const tmp = tempDir('embed');
  const root = tmp.dir;
  let images: Buffer[];
  const locs: [number, number][] = [];

  before(async () => {
    const { tiles } = await syntheticTiles(5, 448, 'jpeg');
    images = tiles.map((t) => t.image);
    for (const t of tiles) locs.push([t.locX, t.locY]);
    await writeTiles(join(root, 'normalize'), 's1', tiles);
    for (const embed of ['tiny', 'tiny-tokens', 'tiny-pooled'] as const) {
      buildModels({ out: join(root, embed), normalize: 'none', shift: [0, 0, 0], embed, seed: 3 });
    }
  });
  after(() => tmp.cleanup());

  const run = (models: string, out: string, slide = 's1') => {
    const pfs = join(root, out);
    const r = runStage('embed', {
      PFS_ROOT: pfs,
      normalize: join(root, 'normalize', slide),
      models: join(models, 'embed'),
      BATCH_SIZE: '2',
    });
    assert.equal(r.status, 0, r.stderr);
    return { pfs, stderr: r.stderr };
  };

  it('avg and max equal a direct computation from the same ONNX session output', async () => {
    const { pfs } = run(join(root, 'tiny'), 'pfs-map');
    const { tensors, metadata } = readSafetensors(join(pfs, 'out', 's1', 'embeddings.safetensors'));
    assert.deepEqual(tensors.avg.shape, [5, 1280]);
    assert.deepEqual(tensors.max.shape, [5, 1280]);
    assert.deepEqual(tensors.loc.shape, [5, 2]);
    assert.deepEqual(Array.from(tensors.loc.data as Int32Array), locs.flat());

    const modelPath = join(root, 'tiny', 'embed', 'model.onnx');
    const { avg, max } = await directVectors(modelPath, images);
    assertClose(tensors.avg.data as Float32Array, avg, 'avg');
    assertClose(tensors.max.data as Float32Array, max, 'max');
    assert.ok(
      (tensors.max.data as Float32Array).some((v, i) => v > (tensors.avg.data as Float32Array)[i] + 1e-3),
      'max differs from avg somewhere',
    );

    assert.equal(metadata.model_sha256, createHash('sha256').update(readFileSync(modelPath)).digest('hex'));
    assert.equal(JSON.parse(metadata.model_card).name, 'tiny-cnn-map-seed3');
    assert.equal(metadata.resize, '2x2-mean');
  });

  it("normalize's stored PNG tiles, decoded into the WebAssembly block sums, give the same vectors", async () => {
    // PNG level 0, as normalize writes its tiles: the stage decodes each into the kernel's memory (pair-sums-kernel.ts)
    const pixels = Array.from({ length: 5 }, (_, i) => tissuePixels(448, 10 + i));
    const tiles = pixels.map((p, i) => ({
      image: encodePng({ data: p, width: 448, height: 448 }, 0),
      locX: 224 + 448 * i,
      locY: 224,
    }));
    await writeTiles(join(root, 'normalize'), 's-png', tiles);
    const { pfs } = run(join(root, 'tiny'), 'pfs-png', 's-png');
    const { tensors } = readSafetensors(join(pfs, 'out', 's-png', 'embeddings.safetensors'));
    const { avg, max } = await directVectors(
      join(root, 'tiny', 'embed', 'model.onnx'),
      tiles.map((t) => t.image),
    );
    // tiles of one batch (2 here) alike would mean one tile's pixels read for another
    assertClose(tensors.avg.data as Float32Array, avg, 'avg');
    assertClose(tensors.max.data as Float32Array, max, 'max');
  });

  it('tokens [N,L,C] and pooled [N,C] outputs pool to the same vectors as the map', async () => {
    const map = readSafetensors(join(root, 'pfs-map', 'out', 's1', 'embeddings.safetensors')).tensors;
    const tokens = readSafetensors(
      join(run(join(root, 'tiny-tokens'), 'pfs-tokens').pfs, 'out', 's1', 'embeddings.safetensors'),
    ).tensors;
    const pooled = readSafetensors(
      join(run(join(root, 'tiny-pooled'), 'pfs-pooled').pfs, 'out', 's1', 'embeddings.safetensors'),
    ).tensors;
    assertClose(tokens.avg.data as Float32Array, map.avg.data as Float32Array, 'tokens avg', 1e-5);
    assertClose(tokens.max.data as Float32Array, map.max.data as Float32Array, 'tokens max', 1e-5);
    assertClose(pooled.avg.data as Float32Array, map.avg.data as Float32Array, 'pooled avg', 1e-4);
    assert.deepEqual(
      Array.from(pooled.max.data as Float32Array),
      Array.from(pooled.avg.data as Float32Array),
      'an already pooled output has avg = max',
    );
  });

  it('the real-architecture EfficientNet-B0 fixture gives [n,1280] per slide', {
    skip: fixtureModelMissing,
  }, async () => {
    const models = join(root, 'b0');
    buildModels({ out: models, normalize: 'none', shift: [0, 0, 0], embed: 'none', embedOnnx: fixtureModel, seed: 0 });
    const { pfs } = run(models, 'pfs-b0');
    const { tensors, metadata } = readSafetensors(join(pfs, 'out', 's1', 'embeddings.safetensors'));
    assert.deepEqual(tensors.avg.shape, [5, 1280]);
    assert.deepEqual(tensors.max.shape, [5, 1280]);
    const avg = tensors.avg.data as Float32Array;
    assert.ok(avg.every(Number.isFinite));
    assert.ok(new Set(avg.slice(0, 1280)).size > 100, 'features vary');
    assert.equal(JSON.parse(metadata.model_card).output.name, 'features');
  });

  it('a slide with no tiles gets [0,D] embeddings, D from the model', async () => {
    await writeTiles(join(root, 'normalize'), 'empty', []);
    const { pfs } = run(join(root, 'tiny'), 'pfs-empty', 'empty');
    const { tensors } = readSafetensors(join(pfs, 'out', 'empty', 'embeddings.safetensors'));
    assert.deepEqual(tensors.avg.shape, [0, 1280]);
    assert.deepEqual(tensors.loc.shape, [0, 2]);
  });

  it('passes on an upstream error.json', () => {
    writeSlideError(join(root, 'normalize'), 'bad', {
      stage: 'tile-detect',
      what: 'no tissue',
      why: '0 of 12 tiles kept',
    });
    const { pfs } = run(join(root, 'tiny'), 'pfs-bad', 'bad');
    const err = JSON.parse(readFileSync(join(pfs, 'out', 'bad', 'error.json'), 'utf8'));
    assert.deepEqual(err.passedThrough, ['embed']);
  });

  it("a card whose layout does not fit the model fails the datum (the cohort's fault), naming both shapes", () => {
    const dir = join(root, 'nhwc');
    const card = tinyCnnCard('map');
    writeModelFolder(join(dir, 'embed'), buildTinyCnn(), { ...card, input: { ...card.input, layout: 'NHWC' } });
    const pfs = join(root, 'pfs-nhwc');
    const r = runStage('embed', {
      PFS_ROOT: pfs,
      normalize: join(root, 'normalize', 's1'),
      models: join(dir, 'embed'),
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /ModelFault: the embed model does not match its card/);
    assert.match(r.stderr, /\[N,3,224,224\]/);
    assert.match(r.stderr, /\[N,224,224,3\]/);
    assert.equal(existsSync(join(pfs, 'out', 's1')), false, 'nothing written for the slide');
  });

  it('SESSIONS sessions run the tiles, each timed in the log; a value that is no count is refused', () => {
    for (const asked of ['1', '2']) {
      const r = runStage('embed', {
        PFS_ROOT: join(root, `pfs-sessions-${asked}`),
        normalize: join(root, 'normalize', 's1'),
        models: join(root, 'tiny', 'embed'),
        SESSIONS: asked,
      });
      assert.equal(r.status, 0, r.stderr);
      const embedded = r.stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l))
        .find((e) => e.event === 'embedded');
      // the second session joins once open: a slide of 5 tiles may be done before it does
      assert.ok(embedded.sessions >= 1 && embedded.sessions <= Number(asked), `sessions ${embedded.sessions}`);
      // the sessions ran every tile (5), timed: the log says how busy they kept the loop and at what rate
      const runs = embedded.session_runs as [number, number][];
      assert.ok(runs.length >= 1 && runs.length <= embedded.sessions);
      assert.equal(
        runs.reduce((t, r) => t + r[0], 0),
        embedded.tiles,
      );
      assert.ok(runs.every((r) => r[1] > 0));
      assert.ok(
        embedded.inference_busy > 0 && embedded.inference_busy <= runs.length + 0.01,
        `busy ${embedded.inference_busy}`,
      );
      assert.ok(embedded.inference_tiles_per_s > 0);
    }
    const r = runStage('embed', {
      PFS_ROOT: join(root, 'pfs-sessions-bad'),
      normalize: join(root, 'normalize', 's1'),
      models: join(root, 'tiny', 'embed'),
      SESSIONS: 'two',
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /SESSIONS/);
  });

  it('a card whose size is a string fails the datum, naming the field', () => {
    const dir = join(root, 'size-string');
    const card = tinyCnnCard('map');
    writeModelFolder(join(dir, 'embed'), buildTinyCnn(), card);
    // written by hand: the project's own writer validates cards
    writeFileSync(join(dir, 'embed', 'model.json'), JSON.stringify({ ...card, input: { ...card.input, size: '224' } }));
    const pfs = join(root, 'pfs-size-string');
    const r = runStage('embed', {
      PFS_ROOT: pfs,
      normalize: join(root, 'normalize', 's1'),
      models: join(dir, 'embed'),
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /input\.size: Invalid input: expected number, received string/);
  });
});
