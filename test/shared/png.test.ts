import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { appDir } from '../../engine/app-dir.js';
import { decodeRgb, encodeRgb } from '../../shared/image.js';
import { decodePlainPng, decodeStoredPng, encodePng, inflatePlainPng } from '../../shared/png.js';
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

/** A stored PNG as zlib writes it (deflateSync at level 0, Node's default chunk size): the bytes before this code. */
function zlibStoredPng(img: RgbImage): Buffer {
  const row = img.width * 3;
  const rows = Buffer.alloc(img.height * (row + 1));
  for (let y = 0; y < img.height; y++) img.data.copy(rows, y * (row + 1) + 1, y * row, (y + 1) * row);
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(img.width, 0);
  ihdr.writeUInt32BE(img.height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([
    signature,
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(rows, { level: 0 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

test('a stored PNG is byte for byte what zlib writes at level 0, at every size, into a buffer used before', async () => {
  const sides: [number, number][] = [
    [1, 1],
    [7, 3],
    [448, 448], // one tile: 18 blocks
    [224, 224],
    [21845, 1], // one row longer than a block
    [128, 171], // rows stream of 65,835 bytes: just past the first block
    [301, 157],
    [1000, 700],
  ];
  const used = Buffer.alloc(3_000_000, 0xee); // old bytes in it: every byte must be written
  for (const [w, h] of sides) {
    const data = Buffer.alloc(w * h * 3);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
    const img = { data, width: w, height: h };
    const want = zlibStoredPng(img);
    assert.ok(encodePng(img, 0).equals(want), `${w}x${h}`);
    const into = encodePng(img, 0, (bytes) => used.subarray(0, bytes));
    assert.ok(into.equals(want), `${w}x${h} into a used buffer`);
    assert.equal(into.buffer, used.buffer, 'written where it was told');
    // and read back by the copy of its blocks, and by libvips
    assert.ok(decodePlainPng(want)!.data.equals(data), `${w}x${h} decoded`);
    // pixels in shared memory (normalize's answers) are copied out first: the same bytes
    const shared = Buffer.from(new SharedArrayBuffer(data.length + 5), 5, data.length);
    shared.set(data);
    assert.ok(encodePng({ data: shared, width: w, height: h }, 0).equals(want), `${w}x${h} from shared memory`);
  }
  const img = await tile();
  assert.ok(encodePng(img, 0).equals(zlibStoredPng(img)), 'a real tile');
  const vips = await sharp(encodePng(img, 0)).raw().toBuffer();
  assert.ok(vips.equals(img.data));
});

test('a stored PNG whose blocks do not add up is left to the inflate path (which says what is wrong)', async () => {
  const img = await tile();
  const png = encodePng(img, 0);
  // LEN of the first block no longer matches its NLEN
  const badLen = Buffer.from(png);
  badLen[33 + 8 + 2 + 1] ^= 0x01;
  assert.equal(
    decodeStoredPng(badLen, (n) => Buffer.alloc(n)),
    undefined,
  );
  // cut short inside its last block
  assert.equal(
    decodeStoredPng(png.subarray(0, png.length - 5000), (n) => Buffer.alloc(n)),
    undefined,
    'truncated',
  );
  // a filter byte that is not 0
  const filtered = Buffer.from(png);
  filtered[33 + 8 + 2 + 5] = 1;
  assert.equal(
    decodeStoredPng(filtered, (n) => Buffer.alloc(n)),
    undefined,
  );
  assert.equal(decodePlainPng(filtered), undefined);
});
