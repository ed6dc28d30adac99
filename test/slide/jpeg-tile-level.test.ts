import assert from 'node:assert/strict';
import { copyFileSync, openSync, closeSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { turboJpeg } from '../../shared/jpeg-turbo.js';
import { type Slide, openSlide, SlideReadError } from '../../shared/slide/index.js';
import { JpegTileLevel } from '../../shared/slide/jpeg-tile-level.js';
import { TAG, TiffFile } from '../../shared/slide/tiff-directory.js';
import { tempDir } from '../helpers/dirs.js';
import { fixture, needsFixtures } from './helpers.js';

const jpeg = turboJpeg();
const needsTurboJpeg = jpeg ? {} : { skip: 'libturbojpeg0 is not installed (the direct read needs it)' };

/** A textured image (tissue-like gradients and noise), so its JPEG tiles carry real detail. */
function texture(width: number, height: number): Buffer {
  const px = Buffer.alloc(width * height * 3);
  let seed = 7;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const n = Math.sin(x / 23) * Math.cos(y / 31);
      const o = (y * width + x) * 3;
      px[o] = 190 - 70 * n + (seed & 15);
      px[o + 1] = 120 - 50 * n + ((seed >>> 8) & 15);
      px[o + 2] = 170 - 30 * n + ((seed >>> 16) & 7);
    }
  return px;
}

/** The same slide opened twice: as the project opens it, and read through OpenSlide alone. */
async function bothReaders(file: string): Promise<{ direct: Slide; openslide: Slide; close(): Promise<void> }> {
  const direct = await openSlide(file, { reader: 'openslide' });
  process.env.TESSELLA_DIRECT_TILES = 'off';
  let openslide: Slide;
  try {
    openslide = await openSlide(file, { reader: 'openslide' });
  } finally {
    delete process.env.TESSELLA_DIRECT_TILES;
  }
  return { direct, openslide, close: async () => void (await Promise.all([direct.close(), openslide.close()])) };
}

type Region = readonly [x: number, y: number, w: number, h: number];

/** A 448 px grid from (dx, dy), some odd rectangles, a pixel, and a region past the bottom-right edge. */
function regionsOf(width: number, height: number, dx = 0, dy = 0): Region[] {
  const out: Region[] = [];
  for (let y = dy; y + 448 <= height; y += 448) for (let x = dx; x + 448 <= width; x += 448) out.push([x, y, 448, 448]);
  out.push([1, 2, 255, 257], [250, 250, 13, 700], [width - 300, 5, 300, 64], [0, 0, 1, 1]);
  out.push([width - 100, height - 50, 200, 100]);
  return out;
}

async function assertSamePixels(file: string, regions: readonly Region[]): Promise<void> {
  const { direct, openslide, close } = await bothReaders(file);
  try {
    // all in flight at once on the direct side: reads that share tiles share their decodes
    const ours = await Promise.all(regions.map(([x, y, w, h]) => direct.readRegion(0, x, y, w, h)));
    for (let i = 0; i < regions.length; i++) {
      const [x, y, w, h] = regions[i];
      const theirs = await openslide.readRegion(0, x, y, w, h);
      assert.ok(ours[i].equals(theirs), `${file}: region (${x},${y}) ${w}x${h} differs from OpenSlide's`);
    }
  } finally {
    await close();
  }
}

describe('JPEG tiles read directly', needsTurboJpeg, () => {
  let tmp: ReturnType<typeof tempDir>;
  const W = 1700;
  const H = 1300;
  let classic: string;
  let big: string;
  before(async () => {
    tmp = tempDir('jpeg-tiles');
    classic = join(tmp.dir, 'tiled.tiff');
    big = join(tmp.dir, 'tiled-big.tiff');
    const raw = { raw: { width: W, height: H, channels: 3 as const } };
    const tiff = { compression: 'jpeg', quality: 88, tile: true, tileWidth: 256, tileHeight: 256 } as const;
    await sharp(texture(W, H), raw).tiff(tiff).toFile(classic);
    await sharp(texture(W, H), raw)
      .tiff({ ...tiff, bigtiff: true })
      .toFile(big);
  });
  after(() => tmp.cleanup());

  test('a tiled JPEG TIFF (classic and BigTIFF) reads as OpenSlide reads it, pixel for pixel', async () => {
    for (const file of [classic, big]) {
      const level = await JpegTileLevel.open(file, { width: W, height: H, tileWidth: 256, tileHeight: 256 }, jpeg!);
      assert.ok(level, `${file}: the direct reader takes its JPEG tiles`);
      assert.ok(
        level.covers(0, 0, 448, 448) && !level.covers(W - 10, 0, 448, 448),
        'a region past the edge is not taken',
      );
      await level.close();
      await assertSamePixels(file, regionsOf(W, H));
      await assertSamePixels(file, regionsOf(W, H, 13, 7));
    }
  });

  test('a level whose size or tiles are not the ones asked for is not taken', async () => {
    assert.equal(
      await JpegTileLevel.open(classic, { width: W, height: H, tileWidth: 512, tileHeight: 512 }, jpeg!),
      undefined,
    );
    assert.equal(
      await JpegTileLevel.open(classic, { width: W + 1, height: H, tileWidth: 256, tileHeight: 256 }, jpeg!),
      undefined,
    );
  });

  test('a small cache evicts, and reads stay right while tiles leave it', async () => {
    const level = await JpegTileLevel.open(classic, { width: W, height: H, tileWidth: 256, tileHeight: 256 }, jpeg!, {
      cacheBytes: 6 * 256 * 256 * 4,
    });
    assert.ok(level);
    process.env.TESSELLA_DIRECT_TILES = 'off';
    const openslide = await openSlide(classic, { reader: 'openslide' });
    delete process.env.TESSELLA_DIRECT_TILES;
    try {
      const regions = regionsOf(W, H, 5, 3).filter(([x, y, w, h]) => level.covers(x, y, w, h));
      for (const concurrent of [false, true]) {
        const outs = regions.map(([, , w, h]) => Buffer.alloc(w * h * 4));
        const reads = regions.map(
          ([x, y, w, h], i) =>
            () =>
              level.read(outs[i], x, y, w, h),
        );
        const ok = concurrent ? await Promise.all(reads.map((r) => r())) : [];
        if (!concurrent) for (const r of reads) ok.push(await r());
        assert.ok(ok.every(Boolean));
        assert.ok(level.cachedTiles <= 6, `the cache holds ${level.cachedTiles} tiles, more than its 6`);
        for (let i = 0; i < regions.length; i++) {
          const [x, y, w, h] = regions[i];
          const theirs = await openslide.readRegionPooled(0, x, y, w, h, { bgrx: true });
          try {
            assert.equal(theirs.layout, 'bgrx');
            assert.ok(outs[i].equals(theirs.data), `region (${x},${y}) ${w}x${h}, concurrent ${concurrent}`);
          } finally {
            theirs.release();
          }
        }
      }
    } finally {
      await level.close();
      await openslide.close();
    }
  });

  test('a missing or damaged tile is left to OpenSlide: the same pixels, or the same error', async () => {
    const file = await open(classic);
    const tiff = await TiffFile.read(file);
    const dir = tiff.directories[0];
    const offsets = (await tiff.integers(dir, TAG.tileOffsets))!;
    const counts = (await tiff.integers(dir, TAG.tileByteCounts))!;
    const countsAt = dir.fields.get(TAG.tileByteCounts)!.offset!;
    const unit = dir.fields.get(TAG.tileByteCounts)!.type === 3 ? 2 : 4;
    await file.close();

    // one copy with tile 1 missing (no bytes), one with tile 8's entropy-coded data overwritten
    const damage = (name: string, at: number, bytes: Buffer) => {
      const path = join(tmp.dir, name);
      copyFileSync(classic, path);
      const fd = openSync(path, 'r+');
      try {
        writeSync(fd, bytes, 0, bytes.length, at);
      } finally {
        closeSync(fd);
      }
      return path;
    };
    const missing = damage('missing.tiff', countsAt + unit, Buffer.alloc(unit));
    const garbled = damage('garbled.tiff', offsets[8] + Math.floor(counts[8] / 2), Buffer.alloc(200, 0xa5));
    const regions = [
      [200, 10, 448, 448], // covers tile 1 and its neighbours
      [0, 300, 600, 200], // covers tile 8 (row 1, column 1) and those beside it
      [900, 600, 448, 448], // neither
    ] as const;
    for (const file of [missing, garbled]) {
      // read on fresh handles, and then all on one: an OpenSlide handle that failed fails every later read
      for (const batch of [...regions.map((r) => [r]), regions]) {
        const { direct, openslide, close } = await bothReaders(file);
        try {
          for (const [x, y, w, h] of batch) {
            const settle = (s: Slide) =>
              s.readRegion(0, x, y, w, h).then(
                (pixels) => ({ pixels }),
                (error: unknown) => ({ error: error as Error }),
              );
            const ours = await settle(direct);
            const theirs = await settle(openslide);
            const where = `${file} (${x},${y}) ${w}x${h}`;
            if ('error' in theirs) {
              assert.ok('error' in ours, `${where}: OpenSlide fails (${theirs.error.message}), so must we`);
              assert.ok(ours.error instanceof SlideReadError);
              assert.equal(ours.error.message, theirs.error.message);
            } else {
              assert.ok('pixels' in ours, `${where}: OpenSlide reads it, so must we`);
              assert.ok(ours.pixels.equals(theirs.pixels), `${where}: differs from OpenSlide's`);
            }
          }
        } finally {
          await close();
        }
      }
    }
  });

  test(
    "the fixture slides' JPEG levels read as OpenSlide reads them; a deflate TIFF is left to OpenSlide",
    needsFixtures,
    async () => {
      for (const name of ['cmu-1-small-region.svs', 'cmu-1-small-region.pyramid.tiff', 'os-1-detail.pyramid.tiff']) {
        const slide = await openSlide(fixture(name));
        const { width, height } = slide.levels[0];
        const tile = slide.tileSize(0)!;
        await slide.close();
        const level = await JpegTileLevel.open(
          fixture(name),
          { width, height, tileWidth: tile.width, tileHeight: tile.height },
          jpeg!,
        );
        assert.ok(level, `${name}: the direct reader takes level 0`);
        await level.close();
        await assertSamePixels(fixture(name), regionsOf(width, height, 7, 0));
      }
      const boxes = await openSlide(fixture('boxes.tiff'));
      const { width, height } = boxes.levels[0];
      await boxes.close();
      assert.equal(
        await JpegTileLevel.open(fixture('boxes.tiff'), { width, height, tileWidth: 64, tileHeight: 64 }, jpeg!),
        undefined,
      );
    },
  );
});
