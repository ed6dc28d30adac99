import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { HISTOGRAM_BINS } from '../../shared/contract/index.js';
import sharp from 'sharp';
import { decodeRgb } from '../../shared/image.js';
import { encodePng } from '../../shared/png.js';
import { addTileCounts, addTileHistogram, slideHistogram, tileCounts } from '../../stages/histogram/histogram.js';
import { readSafetensors } from '../../shared/safetensors.js';
import { writeSlideError } from '../../shared/slide-error.js';
import { encodeTile, runStage, writeTiles } from '../onnx/helpers.js';
import { tempDir } from '../helpers/dirs.js';

/** A 448 tile: top half pure red, bottom-left (16,32,48), bottom-right (15,255,128). */
function knownColours(): Buffer {
  const size = 448;
  const px = Buffer.alloc(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const c = y < size / 2 ? [255, 0, 0] : x < size / 2 ? [16, 32, 48] : [15, 255, 128];
      px.set(c, (y * size + x) * 3);
    }
  }
  return px;
}

const RED = 15 * 256; // (255,0,0) -> bins (15,0,0)
const LEFT = 1 * 256 + 2 * 16 + 3; // (16,32,48) -> (1,2,3)
const RIGHT = 0 * 256 + 15 * 16 + 8; // (15,255,128) -> (0,15,8)

describe('histogram', () => {
  const tmp = tempDir('histogram');
  after(() => tmp.cleanup());

  it('bins a tile of known colours by value >> 4 at r*256 + g*16 + b, normalized to 1', () => {
    const sum = new Float64Array(HISTOGRAM_BINS);
    addTileHistogram(knownColours(), sum);
    assert.equal(sum[RED], 0.5);
    assert.equal(sum[LEFT], 0.25);
    assert.equal(sum[RIGHT], 0.25);
    assert.equal(
      sum.reduce((a, b) => a + b, 0),
      1,
    );
  });

  it('counts every pixel of any width, whichever way the tile is encoded, as a plain count would', async () => {
    // widths that leave 0..3 pixels after the groups of four; pseudo-random colours spread over many bins
    for (const width of [300, 301, 302, 303]) {
      const height = 37;
      const px = Buffer.alloc(width * height * 3);
      for (let i = 0, v = 12345; i < px.length; i++) {
        v = (v * 1103515245 + 12345) >>> 0;
        px[i] = v >>> 24;
      }
      const plain = new Float64Array(HISTOGRAM_BINS);
      for (let p = 0; p < px.length; p += 3) plain[((px[p] >> 4) << 8) | ((px[p + 1] >> 4) << 4) | (px[p + 2] >> 4)]++;
      for (let i = 0; i < HISTOGRAM_BINS; i++) plain[i] /= width * height;
      const packed = new Float64Array(HISTOGRAM_BINS);
      addTileHistogram(px, packed);
      assert.deepEqual(packed, plain, `packed RGB, width ${width}`);
      const raw = { raw: { width, height, channels: 3 as const } };
      const encoded = {
        'stored PNG': encodePng({ data: px, width, height }, 0),
        'filtered PNG (libvips)': await sharp(px, raw).png({ adaptiveFiltering: true }).toBuffer(),
      };
      for (const [name, image] of Object.entries(encoded)) {
        const sum = new Float64Array(HISTOGRAM_BINS);
        addTileCounts(await tileCounts(image), sum);
        assert.deepEqual(sum, plain, `${name}, width ${width}`);
      }
      // a JPEG changes the pixels: its counts are those of what it decodes to
      const jpeg = await sharp(px, raw).jpeg({ quality: 90 }).toBuffer();
      const fromJpeg = new Float64Array(HISTOGRAM_BINS);
      addTileCounts(await tileCounts(jpeg), fromJpeg);
      const decoded = new Float64Array(HISTOGRAM_BINS);
      addTileHistogram((await decodeRgb(jpeg)).data, decoded);
      assert.deepEqual(fromJpeg, decoded, `JPEG, width ${width}`);
    }
  });

  it('a slide mixing PNG and JPEG tiles is summed in file order, whatever decodes first', async () => {
    const px = (seed: number) => Buffer.from(knownColours().map((v, i) => (v + seed * i) & 0xff));
    const tiles = await Promise.all(
      [0, 1, 2, 3, 4].map(async (k) => ({
        image: await encodeTile(px(k), 448, k % 2 ? 'jpeg' : 'png'),
        locX: 224 + 448 * k,
        locY: 224,
      })),
    );
    const path = join(await writeTiles(join(tmp.dir, 'normalize'), 'mixed', tiles), 'tiles.tfrecord');
    const inOrder = new Float64Array(HISTOGRAM_BINS);
    for (const t of tiles) addTileCounts(await tileCounts(t.image), inOrder);
    for (const concurrency of [1, 2, 8]) {
      const h = await slideHistogram(path, concurrency);
      assert.equal(h.count, tiles.length);
      assert.deepEqual(h.sum, inOrder, `concurrency ${concurrency}`);
    }
  });

  it('the stage sums tile histograms per slide and counts tiles', async () => {
    const root = tmp.dir;
    const image = await encodeTile(knownColours(), 448, 'png');
    const white = await encodeTile(Buffer.alloc(448 * 448 * 3, 255), 448, 'png');
    await writeTiles(join(root, 'normalize'), 's1', [
      { image, locX: 224, locY: 224 },
      { image, locX: 672, locY: 224 },
      { image: white, locX: 224, locY: 672 },
    ]);
    const pfs = join(root, 'pfs');
    const r = runStage('histogram', { PFS_ROOT: pfs, normalize: join(root, 'normalize', 's1') });
    assert.equal(r.status, 0, r.stderr);
    const { tensors } = readSafetensors(join(pfs, 'out', 's1', 'histogram.safetensors'));
    assert.equal(tensors.sum.dtype, 'F64');
    assert.deepEqual(tensors.sum.shape, [16, 16, 16]);
    assert.deepEqual(Array.from(tensors.count.data as BigInt64Array), [3n]);
    const sum = tensors.sum.data as Float64Array;
    assert.equal(sum[RED], 1);
    assert.equal(sum[LEFT], 0.5);
    assert.equal(sum[RIGHT], 0.5);
    assert.equal(sum[HISTOGRAM_BINS - 1], 1, 'the white tile');
    assert.ok(Math.abs(sum.reduce((a, b) => a + b, 0) - 3) < 1e-12);
  });

  it('a damaged tile is an error.json naming the record', async () => {
    const root = tmp.dir;
    const image = await encodeTile(knownColours(), 448, 'png');
    await writeTiles(join(root, 'normalize'), 'damaged', [{ image: image.subarray(0, 100), locX: 224, locY: 224 }]);
    const pfs = join(root, 'pfs-damaged');
    const r = runStage('histogram', { PFS_ROOT: pfs, normalize: join(root, 'normalize', 'damaged') });
    assert.equal(r.status, 0, r.stderr);
    const err = JSON.parse(readFileSync(join(pfs, 'out', 'damaged', 'error.json'), 'utf8'));
    assert.equal(err.stage, 'histogram');
    assert.match(err.why, /tile 0 \(loc_x 224, loc_y 224\) cannot be decoded/);
  });

  it('passes on an upstream error.json', () => {
    const root = tmp.dir;
    writeSlideError(join(root, 'normalize'), 'bad', { stage: 'tile-extract', what: 'cannot read', why: 'x' });
    const pfs = join(root, 'pfs-bad');
    const r = runStage('histogram', { PFS_ROOT: pfs, normalize: join(root, 'normalize', 'bad') });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(readFileSync(join(pfs, 'out', 'bad', 'error.json'), 'utf8')).passedThrough, [
      'histogram',
    ]);
  });
});
