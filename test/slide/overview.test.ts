import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeSyntheticSlide } from '../../scripts/synthetic-slide.js';
import { AreaResampler, axisWeights } from '../../shared/slide/area-resampler.js';
import { openSlide } from '../../shared/slide/index.js';
import { tempDir } from '../helpers/dirs.js';

const rgb = (values: number[]) => Buffer.from(values.flatMap((v) => [v, v, v]));
const red = (b: Buffer) => [...b].filter((_, i) => i % 3 === 0);

describe('area resampler', () => {
  test('an integer factor is the plain block mean', () => {
    // 4x2 grey image -> 2x1.
    const r = new AreaResampler(4, 2, 2, 1);
    r.addBlock(rgb([0, 10, 20, 30, 40, 50, 60, 70]), 0, 0, 4, 2);
    assert.deepEqual(red(r.finish()), [(0 + 10 + 40 + 50) / 4, (20 + 30 + 60 + 70) / 4]);
  });

  test('a fractional factor weighs the straddling pixel by its overlap', () => {
    const w = axisWeights(3, 2); // each output covers 1.5 inputs
    assert.deepEqual([...w.index], [0, 1, 1, 2]);
    assert.deepEqual(
      [...w.weight].map((x) => Math.round(x * 1e6) / 1e6),
      [0.666667, 0.333333, 0.333333, 0.666667],
    );
    const r = new AreaResampler(3, 1, 2, 1);
    r.addBlock(rgb([30, 60, 90]), 0, 0, 3, 1);
    assert.deepEqual(red(r.finish()), [40, 80]);
  });

  test('fed in blocks and strips it gives what one whole block gives', () => {
    const w = 37;
    const h = 23;
    const img = Buffer.from(Array.from({ length: w * h * 3 }, (_, i) => (i * 7919) % 256));
    const whole = new AreaResampler(w, h, 5, 4);
    whole.addBlock(img, 0, 0, w, h);
    const pieces = new AreaResampler(w, h, 5, 4);
    for (const [y0, y1] of [
      [0, 10],
      [10, 23],
    ]) {
      for (const [x0, x1] of [
        [16, 37],
        [0, 16],
      ]) {
        const block = Buffer.alloc((x1 - x0) * (y1 - y0) * 3);
        for (let y = y0; y < y1; y++) img.copy(block, (y - y0) * (x1 - x0) * 3, (y * w + x0) * 3, (y * w + x1) * 3);
        pieces.addBlock(block, x0, y0, x1 - x0, y1 - y0);
      }
      pieces.flushRowsBefore(y1);
    }
    assert.ok(pieces.finish().equals(whole.finish()));
  });
});

describe('overviews of synthetic slides, with and without pyramid', () => {
  let tmp: ReturnType<typeof tempDir>;
  before(() => {
    tmp = tempDir('overview');
  });
  after(() => tmp.cleanup());

  const meanAbsDiff = (a: Buffer, b: Buffer) => {
    assert.equal(a.length, b.length);
    let s = 0;
    for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
    return s / a.length;
  };
  /** Share of pixels that one view calls background (R, G, B > 190) and the other does not. */
  const backgroundDisagreement = (a: Buffer, b: Buffer) => {
    let n = 0;
    for (let i = 0; i < a.length; i += 3) {
      const bgA = a[i] > 190 && a[i + 1] > 190 && a[i + 2] > 190;
      const bgB = b[i] > 190 && b[i + 1] > 190 && b[i + 2] > 190;
      if (bgA !== bgB) n++;
    }
    return n / (a.length / 3);
  };
  const meanColour = (a: Buffer) =>
    [0, 1, 2].map((c) => a.filter((_, i) => i % 3 === c).reduce((s, v) => s + v, 0) / (a.length / 3));

  test('the same slide gives nearly the same 1/16 view from level 0 (streamed), from the pyramid, and through libvips', async () => {
    const opts = { width: 2400, height: 1600, seed: 7, tissueFraction: 0.5 };
    const flat = await makeSyntheticSlide({ ...opts, path: join(tmp.dir, 'flat.tiff'), pyramid: false });
    const pyr = await makeSyntheticSlide({ ...opts, path: join(tmp.dir, 'pyr.tiff'), pyramid: true });
    assert.equal(flat.levels.length, 1);
    assert.deepEqual(
      pyr.levels.map((l) => l.downsample),
      [1, 2, 4, 8, 16],
    );

    const views = [];
    for (const [path, reader] of [
      [flat.path, 'openslide'],
      [pyr.path, 'openslide'],
      [flat.path, 'libvips'],
    ] as const) {
      const slide = await openSlide(path, { reader });
      assert.equal(slide.levels.length, path === flat.path ? 1 : 5);
      views.push(await slide.overview(16));
      await slide.close();
    }
    assert.deepEqual(
      views.map((v) => [v.width, v.height, v.level]),
      [
        [150, 100, 0],
        [150, 100, 4],
        [150, 100, 0],
      ],
    );
    // Level 4 of the synthetic pyramid samples one point per 16x16 area where the overview averages it: the
    // texture differs pixel by pixel, the tissue and the colour do not.
    assert.ok(backgroundDisagreement(views[0].data, views[1].data) < 0.03, 'pyramid vs streamed: tissue');
    const [m0, m1] = [meanColour(views[0].data), meanColour(views[1].data)];
    assert.ok(
      m0.every((v, c) => Math.abs(v - m1[c]) < 2),
      `pyramid vs streamed: mean colour ${m0} vs ${m1}`,
    );
    assert.ok(meanAbsDiff(views[0].data, views[2].data) < 4, 'libvips vs OpenSlide, both from level 0');
  });

  test('seeded: the same options write the same bytes', async () => {
    const a = await makeSyntheticSlide({
      path: join(tmp.dir, 'a.tiff'),
      width: 1500,
      height: 900,
      seed: 3,
      tissueFraction: 0.3,
      layout: 'scattered',
    });
    const b = await makeSyntheticSlide({
      path: join(tmp.dir, 'b.tiff'),
      width: 1500,
      height: 900,
      seed: 3,
      tissueFraction: 0.3,
      layout: 'scattered',
    });
    assert.ok(readFileSync(a.path).equals(readFileSync(b.path)));
    assert.ok(Math.abs(a.tissueFraction - 0.3) < 0.03, `tissue ${a.tissueFraction}`);
  });
});
