import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { buildModels } from '../../scripts/models/build.js';
import { buildStainNet, stainNetCard } from '../../scripts/models/stainnet.js';
import { writeModelFolder } from '../../scripts/models/write.js';
import { decodeRgb } from '../../shared/image.js';
import { writeSlideError } from '../../shared/slide-error.js';
import { readTileRecords, type TileRecord } from '../../shared/tile-record.js';
import { runStage, syntheticTiles, writeTiles } from '../onnx/helpers.js';
import { tempDir } from '../helpers/dirs.js';

async function readAll(path: string): Promise<TileRecord[]> {
  const out: TileRecord[] = [];
  for await (const t of readTileRecords(path)) out.push(t);
  return out;
}

const SHIFT: [number, number, number] = [20, -15, 10];

describe('normalize stage (StainNet-shaped models, run as the engine runs a datum)', () => {
  const tmp = tempDir('normalize');
  const root = tmp.dir;
  let png: Awaited<ReturnType<typeof syntheticTiles>>;
  let jpeg: Awaited<ReturnType<typeof syntheticTiles>>;

  before(async () => {
    png = await syntheticTiles(5, 448, 'png');
    jpeg = await syntheticTiles(5, 448, 'jpeg');
    await writeTiles(join(root, 'tile_extract'), 'png-slide', png.tiles);
    await writeTiles(join(root, 'tile_extract'), 'jpeg-slide', jpeg.tiles);
    buildModels({ out: join(root, 'identity'), normalize: 'identity', shift: [0, 0, 0], embed: 'none', seed: 0 });
    buildModels({ out: join(root, 'shift'), normalize: 'shift', shift: SHIFT, embed: 'none', seed: 0 });
  });
  after(() => tmp.cleanup());

  const run = (slide: string, models: string, out: string, extra: Record<string, string> = {}) => {
    const pfs = join(root, out);
    const r = runStage('normalize', {
      PFS_ROOT: pfs,
      tile_extract: join(root, 'tile_extract', slide),
      models: join(root, models, 'normalize'),
      BATCH_SIZE: '2',
      ...extra,
    });
    assert.equal(r.status, 0, r.stderr);
    return { path: join(pfs, 'out', slide, 'tiles.tfrecord'), stderr: r.stderr };
  };

  it('identity on PNG tiles gives the same pixels, keys, order and format', async () => {
    const { path, stderr } = run('png-slide', 'identity', 'pfs-id-png');
    assert.match(stderr, /"provider":"cpu"/);
    const out = await readAll(path);
    assert.equal(out.length, 5);
    for (let i = 0; i < out.length; i++) {
      assert.equal(out[i].slide, 'png-slide');
      assert.equal(out[i].locX, png.tiles[i].locX);
      assert.equal(out[i].locY, png.tiles[i].locY);
      assert.equal(out[i].image[0], 0x89, 'PNG stays PNG');
      const img = await decodeRgb(out[i].image);
      assert.deepEqual([img.width, img.height], [448, 448]);
      assert.ok(img.data.equals(png.pixels[i]), `tile ${i} changed`);
    }
  });

  it('TILE_FORMAT=same: identity on JPEG tiles changes pixels only by the JPEG re-encoding', async () => {
    const { path } = run('jpeg-slide', 'identity', 'pfs-id-jpeg', { TILE_FORMAT: 'same' });
    const out = await readAll(path);
    assert.equal(out.length, 5);
    for (let i = 0; i < out.length; i++) {
      assert.equal(out[i].image[0], 0xff, 'JPEG stays JPEG');
      const before = await decodeRgb(jpeg.tiles[i].image);
      const after = await decodeRgb(out[i].image);
      let sum = 0;
      let max = 0;
      for (let p = 0; p < before.data.length; p++) {
        const d = Math.abs(before.data[p] - after.data[p]);
        sum += d;
        if (d > max) max = d;
      }
      const mean = sum / before.data.length;
      assert.ok(mean < 1, `tile ${i}: mean abs difference ${mean.toFixed(3)} exceeds JPEG q95 rounding`);
      assert.ok(max <= 12, `tile ${i}: max abs difference ${max}`);
    }
  });

  it('the colour-shift model shifts every channel by its offset, clamped to 0..255', async () => {
    const { path } = run('png-slide', 'shift', 'pfs-shift');
    const out = await readAll(path);
    for (let i = 0; i < out.length; i++) {
      const img = await decodeRgb(out[i].image);
      const src = png.pixels[i];
      for (let p = 0; p < src.length; p++) {
        const want = Math.min(255, Math.max(0, src[p] + SHIFT[p % 3]));
        if (img.data[p] !== want)
          assert.fail(`tile ${i} value ${p}: ${src[p]} shifted by ${SHIFT[p % 3]} gave ${img.data[p]}, want ${want}`);
      }
    }
  });

  it('by default writes PNG: identity on JPEG tiles gives the decoded input pixels exactly (no second generation)', async () => {
    const { path } = run('jpeg-slide', 'identity', 'pfs-png-out');
    const out = await readAll(path);
    assert.equal(out.length, 5);
    for (let i = 0; i < out.length; i++) {
      assert.equal(out[i].image[0], 0x89, `tile ${i} is PNG`);
      const before = await decodeRgb(jpeg.tiles[i].image);
      const after = await decodeRgb(out[i].image);
      assert.ok(before.data.equals(after.data), `tile ${i} changed`);
    }
  });

  it('TILE_FORMAT=jpeg with JPEG_CHROMA: the chroma asked for', async () => {
    for (const chroma of ['4:4:4', '4:2:0']) {
      const { path } = run('png-slide', 'identity', `pfs-jpeg-${chroma.replace(/:/g, '')}`, {
        TILE_FORMAT: 'jpeg',
        JPEG_CHROMA: chroma,
      });
      const out = await readAll(path);
      assert.equal((await sharp(out[0].image).metadata()).chromaSubsampling, chroma);
    }
  });

  it('passes on an upstream error.json and writes no tiles', async () => {
    writeSlideError(join(root, 'tile_extract'), 'bad-slide', {
      stage: 'tile-extract',
      what: 'cannot read',
      why: 'Bogus marker length',
    });
    const pfs = join(root, 'pfs-err');
    const r = runStage('normalize', {
      PFS_ROOT: pfs,
      tile_extract: join(root, 'tile_extract', 'bad-slide'),
      models: join(root, 'identity', 'normalize'),
    });
    assert.equal(r.status, 0, r.stderr);
    const err = JSON.parse(readFileSync(join(pfs, 'out', 'bad-slide', 'error.json'), 'utf8'));
    assert.equal(err.stage, 'tile-extract');
    assert.deepEqual(err.passedThrough, ['normalize']);
    assert.equal(existsSync(join(pfs, 'out', 'bad-slide', 'tiles.tfrecord')), false);
  });

  // A model fault is the cohort's, not the slide's: the datum fails (and so the job), no slide gets an error.json.
  const assertModelFault = (r: { status: number | null; stderr: string }, pfs: string, slide: string) => {
    assert.notEqual(r.status, 0, 'a model that does not fit fails the datum');
    assert.match(r.stderr, /ModelFault/);
    assert.equal(existsSync(join(pfs, 'out', slide, 'error.json')), false, "not reported as the slide's error");
    assert.equal(existsSync(join(pfs, 'out', slide, 'tiles.tfrecord')), false, 'no half-written tiles');
  };

  it('a model with fixed 224x224 input on 448 tiles fails the datum, naming both shapes', async () => {
    const dir = join(root, 'fixed224', 'normalize');
    writeModelFolder(dir, buildStainNet({ spatial: [224, 224] }), {
      ...stainNetCard('stainnet-fixed-224'),
      input: { ...stainNetCard('x').input, size: 224 },
    });
    const pfs = join(root, 'pfs-fixed');
    const r = runStage('normalize', {
      PFS_ROOT: pfs,
      tile_extract: join(root, 'tile_extract', 'png-slide'),
      models: dir,
    });
    assertModelFault(r, pfs, 'png-slide');
    assert.match(r.stderr, /cannot run on the cohort's tiles/);
    assert.match(r.stderr, /\[\d,3,448,448\]/);
    assert.match(r.stderr, /\[1,3,224,224\]|\[N,3,224,224\]|224,224\]/);
  });

  it('a damaged tile is an error.json naming the record, not a crash', async () => {
    const damaged = { ...png.tiles[1], image: png.tiles[1].image.subarray(0, 200) };
    await writeTiles(join(root, 'tile_extract'), 'damaged', [png.tiles[0], damaged]);
    const pfs = join(root, 'pfs-damaged');
    const r = runStage('normalize', {
      PFS_ROOT: pfs,
      tile_extract: join(root, 'tile_extract', 'damaged'),
      models: join(root, 'identity', 'normalize'),
    });
    assert.equal(r.status, 0, r.stderr);
    const err = JSON.parse(readFileSync(join(pfs, 'out', 'damaged', 'error.json'), 'utf8'));
    assert.equal(err.what, 'a tile cannot be decoded');
    assert.match(err.why, /tile 1 \(loc_x 672/);
    assert.equal(existsSync(join(pfs, 'out', 'damaged', 'tiles.tfrecord')), false);
  });

  it('a card that names an input the model lacks fails the datum, naming both', async () => {
    const dir = join(root, 'badcard', 'normalize');
    const card = stainNetCard('stainnet-badcard');
    writeModelFolder(dir, buildStainNet(), { ...card, input: { ...card.input, name: 'pixels' } });
    const pfs = join(root, 'pfs-badcard');
    const r = runStage('normalize', {
      PFS_ROOT: pfs,
      tile_extract: join(root, 'tile_extract', 'png-slide'),
      models: dir,
    });
    assertModelFault(r, pfs, 'png-slide');
    assert.match(r.stderr, /does not match its card/);
    assert.match(r.stderr, /'pixels'/);
    assert.match(r.stderr, /'input' float32\[N,3,H,W\]/);
  });

  it('a card whose mean has two values fails the datum, saying three numbers were expected', async () => {
    const dir = join(root, 'mean2', 'normalize');
    const card = stainNetCard('stainnet-mean2');
    writeModelFolder(dir, buildStainNet(), card);
    // written by hand: the project's own writer validates cards
    writeFileSync(join(dir, 'model.json'), JSON.stringify({ ...card, input: { ...card.input, mean: [0.5, 0.5] } }));
    const pfs = join(root, 'pfs-mean2');
    const r = runStage('normalize', {
      PFS_ROOT: pfs,
      tile_extract: join(root, 'tile_extract', 'png-slide'),
      models: dir,
    });
    assertModelFault(r, pfs, 'png-slide');
    assert.match(
      r.stderr,
      /input\.mean: expected one number or three numbers \[R, G, B\], got 2 value\(s\) \[0\.5,0\.5\]/,
    );
  });
});
