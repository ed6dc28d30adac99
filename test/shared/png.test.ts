import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { appDir } from '../../engine/app-dir.js';
import { decodeRgb, encodeRgb } from '../../shared/image.js';
import { decodePlainPng, encodePng, inflatePlainPng } from '../../shared/png.js';
import { openSlide, type RgbImage } from '../../shared/slide/index.js';

const CMU1 = join(appDir(), '..', 'shared', 'fixtures', 'slides', 'cmu-1-small-region.svs');

/** A real H&E tile when the fixture is there, else a deterministic texture (odd size: rows are not aligned). */
async function tile(): Promise<RgbImage> {
  if (existsSync(CMU1)) {
    const slide = await openSlide(CMU1);
    try {
      return { data: await slide.readRegion(0, 600, 900, 448, 448), width: 448, height: 448 };
    } finally {
      await slide.close();
    }
  }
  const w = 301;
  const h = 157;
  const data = Buffer.alloc(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 251;
  return { data, width: w, height: h };
}

test('a stored PNG decodes to the same pixels here and in libvips, and is a PNG of the expected shape', async () => {
  const img = await tile();
  const png = encodePng(img, 0);
  assert.ok(png.length > img.data.length, 'stored: at least the raw pixels');
  const ours = decodePlainPng(png);
  assert.ok(ours);
  assert.equal(ours.width, img.width);
  assert.equal(ours.height, img.height);
  assert.ok(ours.data.equals(img.data));
  const vips = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([vips.info.width, vips.info.height, vips.info.channels], [img.width, img.height, 3]);
  assert.ok(vips.data.equals(img.data), 'libvips reads the same pixels');
  // deflated at level 1 it is smaller and still exact
  const deflated = encodePng(img, 1);
  assert.ok(deflated.length < png.length);
  assert.ok(decodePlainPng(deflated)!.data.equals(img.data));
});

test('the inflated rows of a plain PNG are its pixels behind one "none" filter byte per row', async () => {
  const img = await tile();
  for (const level of [0, 1]) {
    const plain = inflatePlainPng(encodePng(img, level));
    assert.ok(plain);
    const row = img.width * 3;
    assert.deepEqual([plain.width, plain.height, plain.rows.length], [img.width, img.height, img.height * (row + 1)]);
    for (let y = 0; y < img.height; y++) {
      assert.equal(plain.rows[y * (row + 1)], 0);
      assert.ok(
        plain.rows.subarray(y * (row + 1) + 1, (y + 1) * (row + 1)).equals(img.data.subarray(y * row, (y + 1) * row)),
      );
    }
  }
});

test("libvips' unfiltered PNGs take the fast path; filtered, grey, alpha or damaged ones are left to libvips", async () => {
  const img = await tile();
  const raw = { raw: { width: img.width, height: img.height, channels: 3 as const } };
  const vipsPlain = await sharp(img.data, raw).png({ compressionLevel: 1 }).toBuffer();
  assert.ok(decodePlainPng(vipsPlain)!.data.equals(img.data));

  const filtered = await sharp(img.data, raw).png({ adaptiveFiltering: true, compressionLevel: 6 }).toBuffer();
  const grey = await sharp(img.data, raw).toColourspace('b-w').png().toBuffer();
  const alpha = await sharp(img.data, raw).ensureAlpha().png().toBuffer();
  const damaged = Buffer.from(encodePng(img, 1));
  damaged.fill(0, 60, 200); // inside the deflate stream
  for (const [name, png] of Object.entries({ filtered, grey, alpha, damaged }))
    assert.equal(decodePlainPng(png), undefined, name);

  // decodeRgb still reads every one of them, by libvips
  assert.ok((await decodeRgb(filtered)).data.equals(img.data));
  assert.equal((await decodeRgb(grey)).data.length, img.width * img.height * 3);
  assert.ok((await decodeRgb(alpha)).data.equals(img.data));
  await assert.rejects(decodeRgb(damaged));
});

test('encodeRgb writes level 0 with shared/png.ts and other levels with libvips, the same pixels either way', async () => {
  const img = await tile();
  for (const pngLevel of [0, 1, 6]) {
    const png = await encodeRgb(img, 'png', { pngLevel });
    assert.ok((await decodeRgb(png)).data.equals(img.data), `level ${pngLevel}`);
  }
  assert.ok((await encodeRgb(img, 'png', { pngLevel: 0 })).equals(encodePng(img, 0)));
});
