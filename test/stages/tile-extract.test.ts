import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { encodeRgb } from '../../shared/image.js';
import { readSlideError, writeSlideError } from '../../shared/slide-error.js';
import { openSlide } from '../../shared/slide/index.js';
import { readTilesJson } from '../../shared/contract/index.js';
import { readTileRecords, type TileRecord } from '../../shared/tile-record.js';
import { fixture, mountSlide, needsFixtures, runStage } from '../slide/helpers.js';
import { tempDir } from '../helpers/dirs.js';
import { handMadeTilesJson, writeHandMadeTilesJson } from '../helpers/tiles-json.js';

async function records(path: string): Promise<TileRecord[]> {
  const out: TileRecord[] = [];
  for await (const r of readTileRecords(path)) out.push(r);
  return out;
}

describe('tile-extract as the engine runs it (join of slides and tile_detect)', needsFixtures, () => {
  let tmp: ReturnType<typeof tempDir>;
  const outs: Record<string, string> = {};

  before(async () => {
    tmp = tempDir('tile-extract');
    // tile-detect first, on the real slide, as the pipeline would.
    const detectRoot = join(tmp.dir, 'detect');
    const cmuSlides = mountSlide(detectRoot, 'cmu1', fixture('cmu-1-small-region.svs'));
    const detected = await runStage('tile-detect', { PFS_ROOT: detectRoot, slides: cmuSlides });
    assert.equal(detected.status, 0, detected.stderr);
    const cmuDetect = join(detectRoot, 'out', 'cmu1');

    // Inputs of the other cases: unreadable.svs with a hand-made tile list, an upstream error, zero tiles.
    const detectDir = (id: string) => {
      const dir = join(tmp.dir, 'made', id);
      mkdirSync(dir, { recursive: true });
      return dir;
    };
    const badRead = detectDir('bad-read');
    writeHandMadeTilesJson(
      badRead,
      handMadeTilesJson('bad-read', {
        file: 'unreadable.svs',
        width: 16,
        height: 16,
        tileSize: 16,
        tiles: [{ col: 0, row: 0 }],
      }),
    );
    const upstream = detectDir('bad-open');
    writeSlideError(join(tmp.dir, 'made'), 'bad-open', {
      stage: 'tile-detect',
      what: 'the slide cannot be opened',
      why: 'unsupported compression',
    });
    const none = detectDir('none');
    writeHandMadeTilesJson(
      none,
      handMadeTilesJson('none', { file: 'small.svs', width: 16, height: 16, tileSize: 448, reason: 'too small' }),
    );

    const cases: [string, string, string, Record<string, string>][] = [
      ['jpeg', fixture('cmu-1-small-region.svs'), cmuDetect, {}],
      ['png', fixture('cmu-1-small-region.svs'), cmuDetect, { TILE_FORMAT: 'png', READS_IN_FLIGHT: '2' }],
      ['jpeg420', fixture('cmu-1-small-region.svs'), cmuDetect, { JPEG_CHROMA: '4:2:0' }],
      ['bad-read', fixture('unreadable.svs'), badRead, {}],
      ['bad-open', fixture('unopenable.tiff'), upstream, {}],
      ['none', fixture('small.svs'), none, {}],
    ];
    await Promise.all(
      cases.map(async ([name, file, detectOut, env]) => {
        const root = join(tmp.dir, name);
        const id = ['jpeg', 'png', 'jpeg420'].includes(name) ? 'cmu1' : name;
        const r = await runStage('tile-extract', {
          PFS_ROOT: root,
          slides: mountSlide(root, id, file),
          tile_detect: detectOut,
          ...env,
        });
        assert.equal(r.status, 0, `${name}: ${r.stderr}`);
        outs[name] = join(root, 'out', id);
      }),
    );
    outs.detect = cmuDetect;
  });
  after(() => tmp.cleanup());

  test('JPEG tiles in tiles.json order, slideflow keys, loc = tile centre in level-0 pixels', async () => {
    const tiles = readTilesJson(join(outs.detect, 'tiles.json')).tiles;
    const recs = await records(join(outs.jpeg, 'tiles.tfrecord'));
    assert.equal(recs.length, tiles.length);
    assert.ok(recs.length >= 3);
    recs.forEach((r, i) => {
      assert.equal(r.slide, 'cmu1');
      assert.equal(r.locX, tiles[i].x + 224);
      assert.equal(r.locY, tiles[i].y + 224);
      assert.deepEqual([...r.image.subarray(0, 2)], [0xff, 0xd8], 'JPEG');
    });
    const meta = await sharp(recs[0].image).metadata();
    assert.deepEqual([meta.width, meta.height, meta.channels], [448, 448, 3]);
  });

  test("JPEG tiles are the bytes encodeRgb writes for the slide's RGB (read as BGRX, encoded without converting)", async () => {
    const tiles = readTilesJson(join(outs.detect, 'tiles.json')).tiles;
    const recs = await records(join(outs.jpeg, 'tiles.tfrecord'));
    const slide = await openSlide(fixture('cmu-1-small-region.svs'));
    try {
      for (const i of [0, tiles.length - 1]) {
        const rgb = await slide.readRegion(0, tiles[i].x, tiles[i].y, 448, 448);
        const want = await encodeRgb({ data: rgb, width: 448, height: 448 }, 'jpeg', { quality: 95, chroma: '4:4:4' });
        assert.ok(recs[i].image.equals(want), `tile ${i}`);
      }
    } finally {
      await slide.close();
    }
  });

  test('PNG tiles are the slide pixels exactly; JPEG q95 4:4:4 tiles are close to them, 4:2:0 further', async () => {
    const tiles = readTilesJson(join(outs.detect, 'tiles.json')).tiles;
    const png = await records(join(outs.png, 'tiles.tfrecord'));
    const jpeg = await records(join(outs.jpeg, 'tiles.tfrecord'));
    const jpeg420 = await records(join(outs.jpeg420, 'tiles.tfrecord'));
    assert.equal((await sharp(jpeg[0].image).metadata()).chromaSubsampling, '4:4:4', 'default chroma');
    assert.equal((await sharp(jpeg420[0].image).metadata()).chromaSubsampling, '4:2:0', 'JPEG_CHROMA=4:2:0');
    const psnrOf = async (image: Buffer, truth: Buffer) => {
      const decoded = await sharp(image).raw().toBuffer();
      let se = 0;
      for (let k = 0; k < truth.length; k++) se += (truth[k] - decoded[k]) ** 2;
      return 10 * Math.log10((255 * 255) / (se / truth.length));
    };
    const slide = await openSlide(fixture('cmu-1-small-region.svs'));
    try {
      for (const i of [0, tiles.length - 1]) {
        const truth = await slide.readRegion(0, tiles[i].x, tiles[i].y, 448, 448);
        assert.ok((await sharp(png[i].image).raw().toBuffer()).equals(truth), `PNG tile ${i}`);
        // q95 on fine H&E texture: ~44 dB with 4:4:4, ~36 dB with 4:2:0 (chroma at half resolution).
        const full = await psnrOf(jpeg[i].image, truth);
        const sub = await psnrOf(jpeg420[i].image, truth);
        assert.ok(full > 40, `JPEG 4:4:4 tile ${i}: PSNR ${full.toFixed(1)} dB`);
        assert.ok(
          sub > 30 && sub < full - 3,
          `JPEG 4:2:0 tile ${i}: PSNR ${sub.toFixed(1)} dB (4:4:4: ${full.toFixed(1)})`,
        );
      }
    } finally {
      await slide.close();
    }
  });

  test('unreadable.svs: error.json naming the tile, no tiles.tfrecord, exit 0', () => {
    const err = readSlideError(outs['bad-read']);
    assert.ok(err);
    assert.equal(err.stage, 'tile-extract');
    assert.match(err.why, /Bogus marker length/);
    assert.match(err.where ?? '', /tile 0 of tiles\.json \(col 0, row 0, level-0 x 0, y 0\)/);
    assert.equal(existsSync(join(outs['bad-read'], 'tiles.tfrecord')), false);
  });

  test("tile-detect's error.json is passed on", () => {
    const err = readSlideError(outs['bad-open']);
    assert.ok(err);
    assert.equal(err.stage, 'tile-detect');
    assert.deepEqual(err.passedThrough, ['tile-extract']);
  });

  test("zero tiles: error.json with tile-detect's reason, so downstream stages pass it on", () => {
    const err = readSlideError(outs.none);
    assert.ok(err);
    assert.equal(err.what, 'no tiles to extract');
    assert.equal(err.why, 'too small');
  });
});
