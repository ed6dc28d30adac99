import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { chooseLevel, levelFor, openSlide, SlideOpenError, SlideReadError } from '../../shared/slide/index.js';
import { isOpaqueBgrx, premultipliedArgbToRgb } from '../../shared/slide/pixels.js';
import { fixture, hasOpenSlideTools, needsFixtures } from './helpers.js';
import { tempDir } from '../helpers/dirs.js';

describe('level arithmetic', () => {
  test('chooses the largest downsample <= target, with a little tolerance', () => {
    const levels = [1, 4.0001, 16.0012, 64.01].map((downsample) => ({ downsample }));
    assert.equal(chooseLevel(levels, 16), 2, '16.0012 counts as 16');
    assert.equal(chooseLevel(levels, 15), 1);
    assert.equal(chooseLevel(levels, 1000), 3);
    assert.equal(chooseLevel(levels, 0.5), 0, 'never below level 0');
    assert.equal(
      chooseLevel(
        [1, 2, 16.5].map((downsample) => ({ downsample })),
        16,
      ),
      1,
      '3% over is not 16',
    );
  });

  test('the level policy: the level chooseLevel picks, used as it is within tolerance, else the residual scale', () => {
    const levels = [1, 4.0001, 16.0012, 64.01].map((downsample) => ({ downsample }));
    assert.deepEqual(levelFor(levels, 16), { level: 2, levelDownsample: 16.0012, asIs: true, residual: 1 });
    assert.deepEqual(levelFor(levels, 1), { level: 0, levelDownsample: 1, asIs: true, residual: 1 });
    assert.deepEqual(levelFor(levels, 32), { level: 2, levelDownsample: 16.0012, asIs: false, residual: 32 / 16.0012 });
    // 3% over is not that level: the one below, resized by 8.
    const sparse = [1, 2, 16.5].map((downsample) => ({ downsample }));
    assert.deepEqual(levelFor(sparse, 16), { level: 1, levelDownsample: 2, asIs: false, residual: 8 });
    // Finer than level 0 (a physical target beyond the scan's resolution): level 0, enlarged.
    assert.deepEqual(levelFor(levels, 0.5), { level: 0, levelDownsample: 1, asIs: false, residual: 0.5 });
    // Within tolerance above the target counts too (16.06 for 16), and every choice agrees with chooseLevel.
    assert.equal(
      levelFor(
        [1, 16.06].map((downsample) => ({ downsample })),
        16,
      ).asIs,
      true,
    );
    for (const t of [0.7, 1, 3, 4, 6, 15.9, 16, 17, 63, 64, 100]) {
      assert.equal(levelFor(levels, t).level, chooseLevel(levels, t));
    }
  });

  test(
    'boxes.tiff: levels and downsamples as OpenSlide reports them, and the level each target picks',
    needsFixtures,
    async () => {
      const slide = await openSlide(fixture('boxes.tiff'));
      try {
        assert.equal(slide.reader, 'openslide');
        assert.equal(slide.vendor, 'generic-tiff');
        assert.deepEqual(
          slide.levels.map((l) => [l.width, l.height]),
          [
            [300, 250],
            [150, 125],
            [75, 62],
            [37, 31],
          ],
        );
        // Downsample = mean of the two axes' ratios: (300/75 + 250/62) / 2 = 4.01613.
        assert.equal(slide.levels[1].downsample, 2);
        assert.ok(Math.abs(slide.levels[2].downsample - (300 / 75 + 250 / 62) / 2) < 1e-9);
        assert.ok(Math.abs(slide.levels[3].downsample - (300 / 37 + 250 / 31) / 2) < 1e-9);
        assert.equal(chooseLevel(slide.levels, 4), 2, '4.016 is within 1% of 4');
        assert.equal(chooseLevel(slide.levels, 8), 2, '8.086 is over 1% above 8');
        assert.equal(chooseLevel(slide.levels, 16), 3);
        const o = await slide.overview(16);
        assert.deepEqual([o.width, o.height, o.level], [19, 16, 3]);
        assert.ok(Math.abs(o.scaleX - 300 / 19) < 1e-9 && Math.abs(o.scaleY - 250 / 16) < 1e-9);
      } finally {
        await slide.close();
      }
    },
  );

  test('boxes.tiff: libvips finds the same page pyramid', needsFixtures, async () => {
    const slide = await openSlide(fixture('boxes.tiff'), { reader: 'libvips' });
    try {
      assert.equal(slide.reader, 'libvips');
      assert.deepEqual(
        slide.levels.map((l) => [l.width, l.height]),
        [
          [300, 250],
          [150, 125],
          [75, 62],
          [37, 31],
        ],
      );
    } finally {
      await slide.close();
    }
  });
});

describe('pixels', () => {
  test('premultiplied ARGB becomes RGB over white: opaque kept, transparent white, half-transparent blended', () => {
    const argb = Buffer.alloc(12);
    argb.writeUInt32LE(0xff102030, 0); // opaque (16, 32, 48)
    argb.writeUInt32LE(0x00000000, 4); // outside the scan
    argb.writeUInt32LE(0x80400000, 8); // alpha 128, premultiplied red 64
    assert.deepEqual([...premultipliedArgbToRgb(argb, 3)], [16, 32, 48, 255, 255, 255, 64 + 127, 127, 127]);
  });

  test('ARGB words are BGRX as they are only when every pixel is opaque', () => {
    const argb = Buffer.alloc(4 * 9);
    for (let i = 0; i < 9; i++) argb.writeUInt32LE(0xff000000 + i * 0x010203, i * 4);
    assert.equal(isOpaqueBgrx(argb, 9), true);
    assert.deepEqual([...argb.subarray(4, 8)], [3, 2, 1, 255], 'B, G, R, then alpha in memory');
    argb.writeUInt32LE(0xfe102030, 8 * 4); // the last pixel, nearly opaque
    assert.equal(isOpaqueBgrx(argb, 9), false);
    assert.equal(isOpaqueBgrx(argb, 8), true, 'only the first `pixels` words count');
  });
});

describe('reading regions', needsFixtures, () => {
  let tmp: ReturnType<typeof tempDir>;
  before(() => {
    tmp = tempDir('reader');
  });
  after(() => tmp.cleanup());

  /** openslide-write-png's RGBA composited over white, as the reader promises. */
  async function openslidePng(
    file: string,
    x: number,
    y: number,
    level: number,
    w: number,
    h: number,
  ): Promise<Buffer> {
    const out = join(tmp.dir, `ref-${x}-${y}-${level}.png`);
    const r = spawnSync('openslide-write-png', [file, String(x), String(y), String(level), String(w), String(h), out]);
    assert.equal(r.status, 0, `openslide-write-png failed: ${r.stderr}`);
    return sharp(out).flatten({ background: '#ffffff' }).removeAlpha().raw().toBuffer();
  }

  const tools = hasOpenSlideTools ? {} : { skip: 'openslide-write-png (Debian openslide-tools) is not installed' };

  test('a 448 px tile equals openslide-write-png of the same region, bit for bit', tools, async () => {
    const file = fixture('cmu-1-small-region.svs');
    const slide = await openSlide(file);
    try {
      const ours = await slide.readRegion(0, 896, 1344, 448, 448);
      assert.equal(ours.length, 448 * 448 * 3);
      assert.ok(ours.equals(await openslidePng(file, 896, 1344, 0, 448, 448)));
    } finally {
      await slide.close();
    }
  });

  test('a region past the slide edge matches too (transparent -> white), and a 2x pyramid level', tools, async () => {
    // Levels with fractional downsamples (4.002) are left out: there OpenSlide itself interpolates sub-pixel
    // offsets, and openslide-write-png reads in strips, so its strips land on other fractions than one read.
    const file = fixture('cmu-1-small-region.pyramid.tiff');
    const slide = await openSlide(file);
    try {
      const ours = await slide.readRegion(0, 2000, 2800, 448, 448);
      assert.ok(ours.equals(await openslidePng(file, 2000, 2800, 0, 448, 448)));
      assert.deepEqual([...ours.subarray(ours.length - 3)], [255, 255, 255], 'beyond the slide is white');
    } finally {
      await slide.close();
    }
    const boxes = await openSlide(fixture('boxes.tiff'));
    try {
      const ours = await boxes.readRegion(1, 40, 60, 100, 80);
      assert.ok(ours.equals(await openslidePng(fixture('boxes.tiff'), 40, 60, 1, 100, 80)));
    } finally {
      await boxes.close();
    }
  });

  test('several reads in flight return the same pixels as one at a time', async () => {
    const slide = await openSlide(fixture('cmu-1-small-region.svs'));
    try {
      const spots = [0, 1, 2, 3, 4, 5].map((i) => [(i % 3) * 600, Math.floor(i / 3) * 900] as const);
      const parallel = await Promise.all(spots.map(([x, y]) => slide.readRegion(0, x, y, 256, 256)));
      for (let i = 0; i < spots.length; i++)
        assert.ok(parallel[i].equals(await slide.readRegion(0, spots[i][0], spots[i][1], 256, 256)));
    } finally {
      await slide.close();
    }
  });

  test('both readers answer the same calls: pooled reads equal plain ones, tile sizes, overview strips', async () => {
    for (const reader of ['openslide', 'libvips'] as const) {
      const slide = await openSlide(fixture('boxes.tiff'), { reader });
      try {
        for (const [level, x, y, w, h] of [
          [0, 0, 0, 64, 64],
          [1, 40, 20, 70, 50],
          [2, 250, 200, 40, 40],
        ]) {
          const plain = await slide.readRegion(level, x, y, w, h);
          const pooled = await slide.readRegionPooled(level, x, y, w, h);
          assert.equal(pooled.data.length, w * h * 3);
          assert.ok(pooled.data.equals(plain), `${reader}: pooled read, level ${level} (${x},${y}) ${w}x${h}`);
          pooled.release();
        }
        const tile = slide.tileSize(0);
        if (reader === 'openslide') assert.deepEqual(tile, { width: 64, height: 64 });
        else assert.equal(tile, undefined, 'sharp does not report the tile size');
        const { geometry, strips } = slide.overviewStrips(4);
        let rows = 0;
        for await (const s of strips) rows += s.rows;
        assert.deepEqual([geometry.level, geometry.width, geometry.height, rows], [2, 75, 62, 62], reader);
      } finally {
        await slide.close();
      }
    }
  });

  test('a pooled read that accepts BGRX gets it for opaque pixels only, and RGB from libvips', async () => {
    for (const reader of ['openslide', 'libvips'] as const) {
      const slide = await openSlide(fixture('cmu-1-small-region.svs'), { reader });
      try {
        const rgb = await slide.readRegion(0, 300, 200, 64, 48);
        const pooled = await slide.readRegionPooled(0, 300, 200, 64, 48, { bgrx: true });
        if (reader === 'openslide') {
          assert.equal(pooled.layout, 'bgrx');
          assert.equal(pooled.data.length, 64 * 48 * 4);
          for (let p = 0; p < 64 * 48; p++) {
            const [b, g, r, x] = pooled.data.subarray(p * 4, p * 4 + 4);
            assert.deepEqual([r, g, b, x], [rgb[p * 3], rgb[p * 3 + 1], rgb[p * 3 + 2], 255], `pixel ${p}`);
          }
        } else {
          assert.equal(pooled.layout, 'rgb');
          assert.ok(pooled.data.equals(rgb));
        }
        pooled.release();
        // half outside the slide: the outside is transparent in OpenSlide, so it comes as RGB composited on white
        const { width } = slide.levels[0];
        const edge = await slide.readRegionPooled(0, width - 8, 0, 16, 4, { bgrx: true });
        assert.equal(edge.layout, 'rgb', reader);
        assert.ok(edge.data.equals(await slide.readRegion(0, width - 8, 0, 16, 4)), reader);
        assert.deepEqual([...edge.data.subarray(15 * 3, 16 * 3)], [255, 255, 255], `${reader}: outside is white`);
        edge.release();
        const plain = await slide.readRegionPooled(0, 300, 200, 8, 8);
        assert.equal(plain.layout, 'rgb', `${reader}: RGB unless BGRX is accepted`);
        plain.release();
      } finally {
        await slide.close();
      }
    }
  });

  test('a pooled buffer goes back to the reader once released, and only once', async () => {
    const slide = await openSlide(fixture('cmu-1-small-region.svs'));
    try {
      const a = await slide.readRegionPooled(0, 0, 0, 256, 256);
      const copy = Buffer.from(a.data);
      a.release();
      assert.throws(() => a.release(), /released twice/);
      // The next read of that size reuses the buffer a lent.
      const b = await slide.readRegionPooled(0, 512, 512, 256, 256);
      assert.equal(b.data.buffer, a.data.buffer);
      assert.ok(!b.data.equals(copy));
      b.release();
    } finally {
      await slide.close();
    }
  });

  test('SVS facts: vendor, mpp, objective power, associated images', async () => {
    const slide = await openSlide(fixture('cmu-1-small-region.svs'));
    try {
      assert.equal(slide.vendor, 'aperio');
      assert.deepEqual(slide.mpp, { x: 0.499, y: 0.499 });
      assert.equal(slide.objectivePower, 20);
      assert.deepEqual([...slide.associatedImages].sort(), ['label', 'macro', 'thumbnail']);
      const thumb = await slide.readAssociatedImage('thumbnail');
      assert.equal(thumb.data.length, thumb.width * thumb.height * 3);
    } finally {
      await slide.close();
    }
  });

  test('the generic TIFF gets its mpp from the resolution tags', async () => {
    const slide = await openSlide(fixture('cmu-1-small-region.pyramid.tiff'));
    try {
      assert.ok(slide.mpp && Math.abs(slide.mpp.x - 0.499) < 1e-3, `mpp ${JSON.stringify(slide.mpp)}`);
    } finally {
      await slide.close();
    }
  });

  test('unopenable.tiff: SlideOpenError saying why, from both readers', async () => {
    await assert.rejects(openSlide(fixture('unopenable.tiff')), (err: unknown) => {
      assert.ok(err instanceof SlideOpenError);
      assert.match(err.why, /Unsupported TIFF compression: 52479/);
      assert.match(err.why, /libvips/);
      return true;
    });
  });

  test('unreadable.svs opens, then the read fails with SlideReadError', async () => {
    const slide = await openSlide(fixture('unreadable.svs'));
    try {
      await assert.rejects(slide.readRegion(0, 0, 0, 16, 16), (err: unknown) => {
        assert.ok(err instanceof SlideReadError);
        assert.match(err.why, /Bogus marker length/);
        return true;
      });
    } finally {
      await slide.close();
    }
  });

  test('a plain JPEG goes to libvips: regions equal its pixels, white past the edge, a streamed overview', async () => {
    const slide0 = await openSlide(fixture('cmu-1-small-region.svs'));
    const crop = await slide0.readRegion(0, 0, 0, 1200, 900);
    await slide0.close();
    const file = join(tmp.dir, 'crop.jpg');
    await sharp(crop, { raw: { width: 1200, height: 900, channels: 3 } })
      .jpeg({ quality: 90 })
      .toFile(file);
    const pixels = await sharp(file).raw().toBuffer();
    const slide = await openSlide(file);
    try {
      assert.deepEqual([slide.reader, slide.vendor, slide.levels.length], ['libvips', 'jpeg', 1]);
      const region = await slide.readRegion(0, 1100, 800, 200, 150);
      // Inside: the decoded JPEG's pixels; outside the 1200x900 image: white.
      assert.deepEqual(
        [...region.subarray(0, 3)],
        [...pixels.subarray((800 * 1200 + 1100) * 3, (800 * 1200 + 1100) * 3 + 3)],
      );
      assert.deepEqual([...region.subarray(region.length - 3)], [255, 255, 255]);
      const o = await slide.overview(16);
      assert.deepEqual([o.width, o.height, o.level], [75, 56, 0]);
    } finally {
      await slide.close();
    }
  });

  test('a slide folder: the slide file is found beside other files; two slides in one folder is an error', async () => {
    const dir = join(tmp.dir, 'folder');
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'scanned twice\n');
    const { symlinkSync } = await import('node:fs');
    symlinkSync(fixture('small.svs'), join(dir, 'small.svs'));
    const slide = await openSlide(dir);
    assert.equal(slide.levels[0].width, 16);
    await slide.close();
    symlinkSync(fixture('boxes.tiff'), join(dir, 'other.tiff'));
    await assert.rejects(
      openSlide(dir),
      /more than one slide file in the folder: other\.tiff, small\.svs/,
      'an .svs and a .tiff are two slides',
    );
    rmSync(join(dir, 'other.tiff'));
    symlinkSync(fixture('boxes.tiff'), join(dir, 'other.svs'));
    await assert.rejects(openSlide(dir), /more than one slide file/);
  });

  test('a slide folder: a JPEG beside the slide is a companion, not a second slide', async () => {
    const dir = join(tmp.dir, 'folder-jpeg');
    mkdirSync(dir);
    const { symlinkSync } = await import('node:fs');
    symlinkSync(fixture('small.svs'), join(dir, 'small.svs'));
    writeFileSync(join(dir, 'label.jpg'), 'not read');
    const slide = await openSlide(dir);
    assert.equal(slide.levels[0].width, 16);
    await slide.close();
  });
});
