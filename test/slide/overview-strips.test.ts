import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeSyntheticSlide } from '../../scripts/synthetic-slide.js';
import { openSlide, type Slide } from '../../shared/slide/index.js';
import { gatherStrips, streamOverviewStrips } from '../../shared/slide/overview.js';
import { fixture, needsFixtures } from './helpers.js';
import { tempDir } from '../helpers/dirs.js';

/** The overview's strips: their extents, and the pixels gathered. */
async function readStrips(slide: Slide, downsample: number, options = {}) {
  const { geometry, strips } = slide.overviewStrips(downsample, options);
  const extents: [number, number][] = [];
  const data = Buffer.alloc(geometry.width * geometry.height * 3);
  for await (const s of strips) {
    extents.push([s.y, s.rows]);
    let x = 0;
    for (const p of s.pieces) {
      assert.equal(p.x, x, 'pieces side by side, left to right');
      assert.ok(p.data.length >= s.rows * p.width * 3);
      for (let r = 0; r < s.rows; r++)
        p.data.copy(data, ((s.y + r) * geometry.width + p.x) * 3, r * p.width * 3, (r + 1) * p.width * 3);
      x += p.width;
    }
    assert.equal(x, geometry.width, 'pieces cover the width');
  }
  return { geometry, extents, data };
}

/** Strips cover rows 0..height once each, in order. */
function assertTiles(extents: [number, number][], height: number) {
  let y = 0;
  for (const [sy, rows] of extents) {
    assert.equal(sy, y, `strips out of order or overlapping: ${JSON.stringify(extents)}`);
    assert.ok(rows > 0);
    y += rows;
  }
  assert.equal(y, height);
}

async function assertSameAsOverview(path: string, downsample: number, reader?: 'openslide' | 'libvips', options = {}) {
  const slide = await openSlide(path, reader ? { reader } : {});
  try {
    const whole = await slide.overview(downsample);
    const { geometry, extents, data } = await readStrips(slide, downsample, options);
    const { data: _d, ...wholeGeometry } = whole;
    assert.deepEqual(geometry, wholeGeometry);
    assertTiles(extents, geometry.height);
    assert.ok(data.equals(whole.data), `${path} (${slide.reader}): strips differ from the whole overview`);
    return { slide: slide.reader, strips: extents.length, level: geometry.level };
  } finally {
    await slide.close();
  }
}

describe('overview strips equal the whole overview', () => {
  let tmp: ReturnType<typeof tempDir>;
  let pyr: string;
  let flat: string;
  before(async () => {
    tmp = tempDir('overview-strips');
    const opts = { width: 5000, height: 3300, seed: 5, tissueFraction: 0.5 };
    pyr = (await makeSyntheticSlide({ ...opts, path: join(tmp.dir, 'pyr.tiff'), pyramid: true })).path;
    flat = (await makeSyntheticSlide({ ...opts, path: join(tmp.dir, 'flat.tiff'), pyramid: false })).path;
  });
  after(() => tmp.cleanup());

  test('synthetic pyramid (a level used as is) and without pyramid (streamed from level 0, resampled)', async () => {
    const a = await assertSameAsOverview(pyr, 16);
    assert.equal(a.level, 4);
    const b = await assertSameAsOverview(flat, 16);
    assert.equal(b.level, 0);
    assert.ok(b.strips > 1, 'level 0 comes in several strips');
    // A fractional scale: level 2 (4x) resampled by 1.5.
    await assertSameAsOverview(pyr, 6);
  });

  test('small blocks, few in flight: blocks of the next strip arrive early and wait their turn', async () => {
    const r = await assertSameAsOverview(flat, 16, 'openslide', { blockPixels: 256 * 256, inFlight: 3, readAhead: 5 });
    assert.ok(r.strips > 4);
  });

  test('through libvips: a level used as is (regions) and a resize (cut into strips)', async () => {
    await assertSameAsOverview(pyr, 16, 'libvips');
    await assertSameAsOverview(flat, 16, 'libvips');
  });

  test('a read that fails ends the strips with that error', async () => {
    const slide = await openSlide(flat);
    try {
      let reads = 0;
      const failing = {
        levels: slide.levels,
        tileSize: (level: number) => slide.tileSize(level),
        readRegionPooled: (level: number, x: number, y: number, w: number, h: number) => {
          if (++reads === 5) return Promise.reject(new Error('damaged tile'));
          return slide.readRegionPooled(level, x, y, w, h);
        },
      };
      const { geometry, strips } = streamOverviewStrips(failing, 16, { blockPixels: 256 * 256 });
      await assert.rejects(gatherStrips(geometry, strips), /damaged tile/);
    } finally {
      await slide.close();
    }
  });

  test('CMU-1: the SVS (streamed from level 0) and the pyramid TIFF', needsFixtures, async (t) => {
    const svs = await assertSameAsOverview(fixture('cmu-1-small-region.svs'), 16);
    const tiff = await assertSameAsOverview(fixture('cmu-1-small-region.pyramid.tiff'), 16);
    t.diagnostic(`svs: ${JSON.stringify(svs)}, pyramid tiff: ${JSON.stringify(tiff)}`);
  });
});
