import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeSyntheticSlide } from '../../scripts/synthetic-slide.js';
import { readSlideError } from '../../shared/slide-error.js';
import { openSlide } from '../../shared/slide/index.js';
import { readTilesJson, type TilesJson } from '../../shared/contract/index.js';
import { DetectConfigSchema } from '../../stages/tile-detect/config.js';
import { detectOnOverview, detectTiles, detectTilesStreamed } from '../../stages/tile-detect/detect.js';
import { thumbnailOf } from '../../stages/tile-detect/qc.js';
import { countBackground, countBackgroundWords, isBackground } from '../../stages/tile-detect/background.js';
import { GridMeasurer, measureGrid, selectTiles, TileStatus } from '../../stages/tile-detect/tissue.js';
import { fixture, mountSlide, needsFixtures, runStage } from '../slide/helpers.js';
import { tempDir } from '../helpers/dirs.js';

/** A w x h grey image with every pixel `value`, as RGB. */
function solid(w: number, h: number, rgb: [number, number, number]) {
  const data = Buffer.alloc(w * h * 3);
  for (let i = 0; i < w * h; i++) data.set(rgb, i * 3);
  return { width: w, height: h, data };
}
const setPixels = (img: ReturnType<typeof solid>, indices: number[], rgb: [number, number, number]) => {
  for (const i of indices) img.data.set(rgb, i * 3);
};
/** The overview at scale 1: tiles of 10x10 overview pixels. */
const grid = (cols: number, rows: number) => ({ tileSize: 10, cols, rows, scaleX: 1, scaleY: 1 });

describe('the tissue rule', () => {
  test('background is R, G and B all above 190: 191 is background, 190 in any channel is not', () => {
    assert.equal(isBackground(191, 191, 191, 190), true);
    assert.equal(isBackground(190, 191, 191, 190), false);
    assert.equal(isBackground(191, 190, 191, 190), false);
    assert.equal(isBackground(191, 191, 190, 190), false);
    assert.equal(isBackground(255, 255, 255, 190), true);
  });

  test('a tile with exactly 10% background is kept, one more background pixel drops it', () => {
    // Three 10x10 tiles side by side: tissue (190,190,190) with 10, 11 and 9 background pixels (191,191,191).
    const img = solid(30, 10, [190, 190, 190]);
    const inTile = (col: number, n: number) =>
      Array.from({ length: n }, (_, k) => Math.floor(k / 10) * 30 + col * 10 + (k % 10));
    setPixels(img, [...inTile(0, 10), ...inTile(1, 11), ...inTile(2, 9)], [191, 191, 191]);
    const m = measureGrid(img, grid(3, 1), 190);
    assert.deepEqual([...m.pixels], [100, 100, 100]);
    assert.deepEqual([...m.background], [10, 11, 9]);
    const s = selectTiles(m, 0.1);
    assert.deepEqual([...s.status], [TileStatus.Kept, TileStatus.Background, TileStatus.Kept]);
    assert.deepEqual([...s.tissueFraction], [0.9, 0.89, 0.91]);
    assert.equal(s.kept, 2);
    assert.equal(s.droppedBackground, 1);
  });

  test('28x28 tiles (448 at 1/16): 78 background pixels kept, 79 dropped (10% is 78.4)', () => {
    const img = solid(56, 28, [100, 50, 120]);
    const tile0 = Array.from({ length: 78 }, (_, k) => Math.floor(k / 28) * 56 + (k % 28));
    const tile1 = Array.from({ length: 79 }, (_, k) => Math.floor(k / 28) * 56 + 28 + (k % 28));
    setPixels(img, [...tile0, ...tile1], [250, 250, 250]);
    const s = selectTiles(measureGrid(img, { tileSize: 448, cols: 2, rows: 1, scaleX: 16, scaleY: 16 }, 190), 0.1);
    assert.deepEqual([...s.status], [TileStatus.Kept, TileStatus.Background]);
  });

  test('pixels past the last whole tile are not counted', () => {
    const img = solid(25, 14, [255, 255, 255]);
    const m = measureGrid(img, grid(2, 1), 190);
    assert.deepEqual([...m.pixels], [100, 100]);
  });

  test('MAX_TILES keeps the most tissue, ties in row-major order', () => {
    // 2x2 tiles with background counts 0, 5, 0, 5: tissue 1, .95, 1, .95.
    const img = solid(20, 20, [120, 60, 140]);
    setPixels(img, [10, 11, 12, 13, 14], [250, 250, 250]);
    setPixels(img, [310, 311, 312, 313, 314], [250, 250, 250]);
    const m = measureGrid(img, grid(2, 2), 190);
    const s = selectTiles(m, 0.1, 3);
    assert.deepEqual([...s.status], [TileStatus.Kept, TileStatus.Kept, TileStatus.Kept, TileStatus.OverMaxTiles]);
    assert.equal(s.droppedMaxTiles, 1);
  });
});

describe('tile-detect on real slides', needsFixtures, () => {
  async function detect(file: string, overrides: Record<string, string> = {}): Promise<TilesJson> {
    const slide = await openSlide(fixture(file));
    try {
      return (await detectTiles(slide, 'cmu-1', DetectConfigSchema.parse(overrides))).tilesJson;
    } finally {
      await slide.close();
    }
  }
  const jaccard = (a: TilesJson, b: TilesJson) => {
    const key = (t: { col: number; row: number }) => `${t.col},${t.row}`;
    const sa = new Set(a.tiles.map(key));
    const sb = new Set(b.tiles.map(key));
    const both = [...sa].filter((k) => sb.has(k)).length;
    return both / (sa.size + sb.size - both);
  };

  test('CMU-1: the SVS (no pyramid, streamed from level 0) and its pyramid TIFF (level 4) keep nearly the same tiles', async (t) => {
    const svs = await detect('cmu-1-small-region.svs');
    const tiff = await detect('cmu-1-small-region.pyramid.tiff');
    assert.equal(svs.overview.level, 0);
    assert.equal(tiff.overview.level, 4, 'downsample 16.06 is within tolerance of 16');
    assert.deepEqual(
      [svs.grid, tiff.grid],
      [
        { cols: 4, rows: 6 },
        { cols: 4, rows: 6 },
      ],
    );
    assert.ok(svs.tiles.length >= 3);
    const j448 = jaccard(svs, tiff);
    // A finer grid compares more tiles (the 448 grid of this small crop has only 24).
    const svs112 = await detect('cmu-1-small-region.svs', { TILE_SIZE: '112' });
    const tiff112 = await detect('cmu-1-small-region.pyramid.tiff', { TILE_SIZE: '112' });
    const j112 = jaccard(svs112, tiff112);
    t.diagnostic(
      `Jaccard of kept tiles, SVS vs pyramid TIFF: ${j448.toFixed(3)} at 448 px (${svs.tiles.length} vs ${tiff.tiles.length} tiles), ${j112.toFixed(3)} at 112 px (${svs112.tiles.length} vs ${tiff112.tiles.length})`,
    );
    assert.ok(j448 >= 0.8, `Jaccard at 448: ${j448}`);
    assert.ok(j112 >= 0.8, `Jaccard at 112: ${j112}`);
    assert.deepEqual(svs.source.mpp, { x: 0.499, y: 0.499 });
    assert.equal(svs.tiles[0].x, svs.tiles[0].col * 448);
  });

  test('boxes.tiff with 64 px tiles at 1/4: the 4.016 level is used and the grid is whole tiles', async () => {
    const boxes = await detect('boxes.tiff', { TILE_SIZE: '64', DOWNSAMPLE: '4' });
    assert.equal(boxes.overview.level, 2);
    // Within 1% of the target, the level is the overview as it is (75x62), not resized to 300/4 x 250/4.
    assert.deepEqual([boxes.overview.width, boxes.overview.height], [75, 62]);
    assert.deepEqual(boxes.grid, { cols: 4, rows: 3 });
    assert.equal(boxes.counts.grid, 12);
    assert.equal(boxes.counts.kept + boxes.counts.dropped.background, 12);
  });
});

describe('tile-detect as the engine runs it (main.ts, PFS_ROOT, slides)', () => {
  let tmp: ReturnType<typeof tempDir>;
  const outs: Record<string, string> = {};
  let badEnv: { status: number | null; stderr: string };

  // Every run starts at once (each child pays tsx's start-up); the tests then read what they wrote.
  before(async () => {
    tmp = tempDir('tile-detect');
    const empty = await makeSyntheticSlide({
      path: join(tmp.dir, 'empty.tiff'),
      width: 1400,
      height: 1000,
      tissueFraction: 0,
    });
    const slides: Record<string, string> = { empty: empty.path };
    if (!needsFixtures.skip) {
      Object.assign(slides, {
        cmu1: fixture('cmu-1-small-region.svs'),
        small: fixture('small.svs'),
        'bad-open': fixture('unopenable.tiff'),
        'bad-read': fixture('unreadable.svs'),
      });
    }
    const runs = Object.entries(slides).map(async ([id, file]) => {
      const root = join(tmp.dir, id);
      const r = await runStage('tile-detect', { PFS_ROOT: root, slides: mountSlide(root, id, file) });
      assert.equal(r.status, 0, `${id}: ${r.stderr}`);
      outs[id] = join(root, 'out', id);
    });
    const root = join(tmp.dir, 'badenv');
    const bad = runStage('tile-detect', { PFS_ROOT: root, slides: join(root, 'slides', 'x'), TILE_SIZE: 'big' }).then(
      (r) => (badEnv = r),
    );
    await Promise.all([...runs, bad]);
  });
  after(() => tmp.cleanup());

  test(
    'CMU-1 SVS: tiles.json, QC thumbnail and overlay, GeoJSON of the kept tiles in level-0 pixels',
    needsFixtures,
    () => {
      const out = outs.cmu1;
      const tiles = readTilesJson(join(out, 'tiles.json'));
      assert.equal(tiles.slide, 'cmu1');
      assert.equal(tiles.source.file, 'cmu-1-small-region.svs');
      assert.equal(tiles.counts.kept, tiles.tiles.length);
      for (const f of ['thumbnail.jpg', 'tiles.jpg'])
        assert.deepEqual([...readFileSync(join(out, 'qc', f)).subarray(0, 2)], [0xff, 0xd8]);
      const geo = JSON.parse(readFileSync(join(out, 'qc', 'tiles.geojson'), 'utf8'));
      assert.equal(geo.type, 'FeatureCollection');
      assert.equal(geo.features.length, tiles.tiles.length);
      const { x, y } = tiles.tiles[0];
      assert.deepEqual(geo.features[0].geometry.coordinates[0], [
        [x, y],
        [x + 448, y],
        [x + 448, y + 448],
        [x, y + 448],
        [x, y],
      ]);
    },
  );

  test('small.svs (16x16): zero tiles with the reason, exit 0', needsFixtures, () => {
    const tiles = readTilesJson(join(outs.small, 'tiles.json'));
    assert.equal(tiles.tiles.length, 0);
    assert.match(tiles.reason ?? '', /smaller than one 448x448 tile/);
  });

  test('unopenable.tiff: error.json saying why, exit 0', needsFixtures, () => {
    const err = readSlideError(outs['bad-open']);
    assert.ok(err);
    assert.equal(err.stage, 'tile-detect');
    assert.match(err.why, /52479/);
    assert.equal(existsSync(join(outs['bad-open'], 'tiles.json')), false);
  });

  test('unreadable.svs: error.json saying where, exit 0', needsFixtures, () => {
    const err = readSlideError(outs['bad-read']);
    assert.ok(err);
    assert.match(err.why, /Bogus marker length/);
    assert.match(err.where ?? '', /unreadable\.svs/);
  });

  test('a synthetic slide without tissue: zero tiles, the reason says it looks empty', () => {
    const tiles = readTilesJson(join(outs.empty, 'tiles.json'));
    assert.equal(tiles.counts.grid, 6);
    assert.equal(tiles.tiles.length, 0);
    assert.match(tiles.reason ?? '', /looks empty/);
  });

  test('a bad parameter fails the datum (exit 1) naming the variable', () => {
    assert.equal(badEnv.status, 1);
    assert.match(badEnv.stderr, /TILE_SIZE: expected an integer/);
  });
});

/** Background pixels among pixels [i0, i1) of RGB `data` by the reference predicate. */
function referenceCount(data: Buffer, i0: number, i1: number, th: number): number {
  let n = 0;
  for (let i = i0; i < i1; i++) if (isBackground(data[i * 3], data[i * 3 + 1], data[i * 3 + 2], th)) n++;
  return n;
}

/** Both fast counts against the reference on every range [i0, i1) that starts in the first 8 pixels. */
function assertFastCountsAgree(data: Buffer, th: number, what: string): number {
  // An own 4-byte-aligned copy, as pooled reads and resampled rows are (the word path needs that).
  const aligned = Buffer.from(new ArrayBuffer(data.length + 4), 0, data.length);
  data.copy(aligned);
  const words = new Uint32Array(aligned.buffer, 0, aligned.length >> 2);
  const n = data.length / 3;
  let checked = 0;
  for (let i0 = 0; i0 < Math.min(8, n); i0++) {
    const ends = [i0, i0 + 1, i0 + 2, i0 + 3, i0 + 4, i0 + 5, i0 + 7, i0 + 11, n - 1, n].filter(
      (e) => e >= i0 && e <= n,
    );
    for (const i1 of new Set(ends)) {
      const want = referenceCount(data, i0, i1, th);
      const where = `pixels [${i0}, ${i1}), threshold ${th}`;
      assert.equal(countBackground(aligned, i0, i1, th), want, `${what}: scalar count, ${where}`);
      assert.equal(countBackgroundWords(aligned, words, i0, i1, th), want, `${what}: word count, ${where}`);
      checked += i1 - i0;
    }
  }
  return checked;
}

describe('the fast background counts equal the reference predicate', () => {
  test('every channel combination at and around the threshold, in every lane of a word, every threshold edge', () => {
    for (const th of [0, 1, 100, 189, 190, 191, 253, 254, 255]) {
      const values = [...new Set([0, th - 1, th, th + 1, 255].filter((v) => v >= 0 && v <= 255))];
      const combos: number[][] = [];
      for (const r of values) for (const g of values) for (const b of values) combos.push([r, g, b]);
      // Each combination at each position mod 4 (a word holds four pixels), and neighbours of every kind.
      for (let shift = 0; shift < 4; shift++) {
        const pad = Array.from({ length: shift }, () => [255, 255, 255]);
        const pixels = [...pad, ...combos, ...combos.slice().reverse()];
        assertFastCountsAgree(Buffer.from(pixels.flat()), th, `synthetic, shift ${shift}`);
      }
    }
  });

  test(
    'real pixels: overview strips and level-0 regions of fixture slides, thresholds 150-240',
    needsFixtures,
    async () => {
      let checked = 0;
      for (const file of ['cmu-1-small-region.svs', 'cmu-1-small-region.pyramid.tiff', 'os-1-detail.pyramid.tiff']) {
        const slide = await openSlide(fixture(file));
        try {
          const samples: Buffer[] = [];
          for await (const strip of slide.overviewStrips(16).strips) {
            for (const p of strip.pieces) samples.push(Buffer.from(p.data));
          }
          const { width, height } = slide.levels[0];
          for (const [x, y] of [
            [0, 0],
            [width / 2, height / 2],
            [width - 300, height - 200],
          ]) {
            samples.push(await slide.readRegion(0, Math.round(x), Math.round(y), 300, 200));
          }
          for (const data of samples) {
            for (const th of [150, 190, 200, 220, 240]) checked += assertFastCountsAgree(data, th, file);
          }
        } finally {
          await slide.close();
        }
      }
      assert.ok(checked > 1e6, `checked ${checked} pixels`);
    },
  );
});

describe('strip by strip equals the whole overview', () => {
  test('GridMeasurer fed in uneven strips counts what measureGrid counts (fractional scale, partial tiles)', () => {
    const w = 203;
    const h = 157;
    // Values all over, and many next to the thresholds tried (190, 191; 254, 255; 0, 1).
    const near = [0, 1, 189, 190, 191, 192, 254, 255];
    const img = {
      width: w,
      height: h,
      data: Buffer.from(
        Array.from({ length: w * h * 3 }, (_, i) =>
          i % 5 < 2 ? near[(i * 7) % near.length] : (i * 7919 + (i >> 5) * 31) % 256,
        ),
      ),
    };
    // 2400 x 1850 level 0 at about 1/11.8: tiles of 100 px are 8.46 overview pixels, pixel centres decide.
    for (const g of [
      { tileSize: 100, cols: 24, rows: 18, scaleX: 2400 / w, scaleY: 1850 / h },
      { tileSize: 7, cols: 600, rows: 450, scaleX: 20.6, scaleY: 20.1 },
    ]) {
      for (const th of [0, 150, 190, 254, 255]) {
        const whole = measureGrid(img, g, th);
        const m = new GridMeasurer(g, w, h, th);
        // Strips of uneven height, each cut in pieces side by side (as a level's blocks come).
        for (const [y0, y1] of [
          [0, 13],
          [13, 14],
          [14, 90],
          [90, h],
        ]) {
          for (const [x0, x1] of [
            [0, 64],
            [64, 65],
            [65, 150],
            [150, w],
          ]) {
            const piece = Buffer.alloc((x1 - x0) * (y1 - y0) * 3);
            for (let y = y0; y < y1; y++)
              img.data.copy(piece, (y - y0) * (x1 - x0) * 3, (y * w + x0) * 3, (y * w + x1) * 3);
            m.addPiece(y0, y1 - y0, x0, x1 - x0, piece);
          }
        }
        assert.deepEqual([...m.result().pixels], [...whole.pixels]);
        assert.deepEqual([...m.result().background], [...whole.background], `threshold ${th}`);
      }
    }
  });

  let tmp: ReturnType<typeof tempDir>;
  const synthetic: Record<string, string> = {};
  before(async () => {
    tmp = tempDir('tile-detect-strips');
    const opts = { width: 6000, height: 4100, seed: 11, tissueFraction: 0.45, layout: 'scattered' as const };
    synthetic.pyramid = (await makeSyntheticSlide({ ...opts, path: join(tmp.dir, 'pyr.tiff') })).path;
    synthetic.flat = (await makeSyntheticSlide({ ...opts, path: join(tmp.dir, 'flat.tiff'), pyramid: false })).path;
  });
  after(() => tmp.cleanup());

  /** tiles.json the stage writes (strips) and the rule on the whole overview read at once; and the thumbnails. */
  async function both(path: string, overrides: Record<string, string> = {}, reader?: 'libvips') {
    const config = DetectConfigSchema.parse(overrides);
    const slide = await openSlide(path, reader ? { reader } : {});
    try {
      const strips = await detectTilesStreamed(slide, 's', config);
      const overview = await slide.overview(config.DOWNSAMPLE);
      const whole = detectOnOverview(slide, overview, 's', config);
      return {
        strips: strips.detection.tilesJson,
        whole: whole.tilesJson,
        thumb: strips.thumbnail,
        wholeThumb: thumbnailOf(overview, config.QC_MAX_SIDE),
      };
    } finally {
      await slide.close();
    }
  }
  const same = async (path: string, overrides: Record<string, string> = {}, reader?: 'libvips') => {
    const r = await both(path, overrides, reader);
    assert.deepEqual(JSON.stringify(r.strips), JSON.stringify(r.whole));
    assert.deepEqual([r.thumb.width, r.thumb.height], [r.wholeThumb.width, r.wholeThumb.height]);
    assert.ok(
      r.thumb.data.equals(r.wholeThumb.data),
      'the QC thumbnail built from strips equals the one from the whole overview',
    );
    return r.strips;
  };

  test('synthetic slide, pyramid and streamed from level 0, 448 and 112 px tiles, MAX_TILES, libvips', async () => {
    const a = await same(synthetic.pyramid);
    assert.ok(a.tiles.length > 10 && a.counts.dropped.background > 10, `kept ${a.tiles.length} of ${a.counts.grid}`);
    const b = await same(synthetic.flat);
    assert.equal(b.overview.level, 0);
    await same(synthetic.flat, { TILE_SIZE: '112', MAX_TILES: '50' });
    await same(synthetic.pyramid, { TILE_SIZE: '100', DOWNSAMPLE: '6', QC_MAX_SIDE: '300' });
    await same(synthetic.flat, {}, 'libvips');
  });

  test('CMU-1 SVS and pyramid TIFF: the same tiles.json strip by strip', needsFixtures, async () => {
    for (const f of ['cmu-1-small-region.svs', 'cmu-1-small-region.pyramid.tiff']) {
      const j = await same(fixture(f));
      assert.ok(j.tiles.length >= 3, f);
      await same(fixture(f), { TILE_SIZE: '112', QC_MAX_SIDE: '64' });
    }
  });
});
