/**
 * Colour histograms (DESIGN.md step 5): per tile a 16x16x16 RGB histogram (bin = value >> 4,
 * index r*256 + g*16 + b) normalized to sum 1; per slide the sum over tiles and the tile count.
 */
import { HISTOGRAM_BINS, HISTOGRAM_METADATA, histogramTensors } from '../../shared/contract/index.js';
import { decodeRgb, imageFormatOf } from '../../shared/image.js';
import { decodeStoredPng, inflatePlainPng } from '../../shared/png.js';
import { decodeTile } from '../../shared/tiles/index.js';
import { writeSafetensors } from '../../shared/safetensors.js';
import { readTileRecords } from '../../shared/tile-record.js';

/**
 * Count the pixels of `height` rows of packed RGB, the first starting at `first` and each `stride` bytes after the
 * last, into `counts` (HISTOGRAM_BINS x 4: four interleaved tables, one per pixel of a group of four, so that equal
 * neighbouring pixels do not wait on each other's increment; `tableCounts` adds them up).
 */
function countRows(data: Uint8Array, first: number, stride: number, width: number, height: number, counts: Int32Array) {
  const row = width * 3;
  for (let y = 0, o = first; y < height; y++, o += stride) {
    const end = o + row;
    let p = o;
    for (; p + 12 <= end; p += 12) {
      counts[(((data[p] & 0xf0) << 4) | (data[p + 1] & 0xf0) | (data[p + 2] >> 4)) << 2]++;
      counts[((((data[p + 3] & 0xf0) << 4) | (data[p + 4] & 0xf0) | (data[p + 5] >> 4)) << 2) | 1]++;
      counts[((((data[p + 6] & 0xf0) << 4) | (data[p + 7] & 0xf0) | (data[p + 8] >> 4)) << 2) | 2]++;
      counts[((((data[p + 9] & 0xf0) << 4) | (data[p + 10] & 0xf0) | (data[p + 11] >> 4)) << 2) | 3]++;
    }
    for (; p < end; p += 3) counts[(((data[p] & 0xf0) << 4) | (data[p + 1] & 0xf0) | (data[p + 2] >> 4)) << 2]++;
  }
}

/** A tile's bin counts: countRows's four tables added up (the pixel count is width x height). */
export interface TileCounts {
  counts: Int32Array;
  pixels: number;
}

function tableCounts(tables: Int32Array, pixels: number): TileCounts {
  const counts = new Int32Array(HISTOGRAM_BINS);
  for (let i = 0; i < HISTOGRAM_BINS; i++)
    counts[i] = tables[i * 4] + tables[i * 4 + 1] + tables[i * 4 + 2] + tables[i * 4 + 3];
  return { counts, pixels };
}

/** countRows's tables, reused from tile to tile (zeroed before each). */
const tables = new Int32Array(HISTOGRAM_BINS * 4);

/** The bin counts of an image of packed RGB rows (`first`: where the first row starts; `stride`: row to row). */
function imageCounts(data: Uint8Array, first: number, stride: number, width: number, height: number): TileCounts {
  tables.fill(0);
  countRows(data, first, stride, width, height, tables);
  return tableCounts(tables, width * height);
}

/** One tile's pixels, reused from tile to tile: a fresh 600 KB per tile costs more in page faults than the count. */
let storedPixels = Buffer.alloc(0);
const intoStoredPixels = (bytes: number) => {
  if (storedPixels.length < bytes) storedPixels = Buffer.allocUnsafeSlow(bytes);
  return storedPixels;
};

/**
 * The bin counts of an unfiltered RGB PNG (normalize's tiles): a stored one (PNG_COMPRESSION 0, the default) copied
 * out of its blocks into one reused buffer, a compressed one from its inflated rows; undefined for other images.
 */
function plainPngCounts(image: Uint8Array): TileCounts | undefined {
  if (imageFormatOf(image) !== 'png') return undefined;
  const stored = decodeStoredPng(image, intoStoredPixels);
  if (stored) return imageCounts(stored.data, 0, stored.width * 3, stored.width, stored.height);
  const plain = inflatePlainPng(image);
  return plain && imageCounts(plain.rows, 1, plain.width * 3 + 1, plain.width, plain.height);
}

/**
 * A tile's bin counts from its encoded image. Normalize's tiles (unfiltered RGB PNGs) are counted in their inflated
 * rows, with no copy of the pixels; any other image is decoded to packed RGB first.
 */
export async function tileCounts(image: Uint8Array): Promise<TileCounts> {
  const plain = plainPngCounts(image);
  if (plain) return plain;
  const { data, width, height } = await decodeRgb(image);
  return imageCounts(data, 0, width * 3, width, height);
}

/** Add one tile's normalized histogram into `sum`, bin by bin in order (float64 sums depend on their order). */
export function addTileCounts({ counts, pixels }: TileCounts, sum: Float64Array): void {
  if (!pixels) return;
  for (let i = 0; i < HISTOGRAM_BINS; i++) if (counts[i]) sum[i] += counts[i] / pixels; // a division rounds once
}

/** Add one tile's normalized histogram (packed RGB bytes) into `sum`. */
export function addTileHistogram(rgb: Uint8Array, sum: Float64Array): void {
  const pixels = rgb.length / 3;
  addTileCounts(imageCounts(rgb, 0, pixels * 3, pixels, pixels ? 1 : 0), sum);
}

export interface SlideHistogram {
  sum: Float64Array;
  count: number;
}

/**
 * Stream a tiles.tfrecord. Unfiltered PNGs are counted as they come, in the reader's reused buffers; other images
 * are copied out and decoded `concurrency` at a time (on libuv's threads). Tiles are added to the sum in file order.
 */
export async function slideHistogram(
  path: string,
  concurrency = 8,
  onTiles?: (n: number) => void,
): Promise<SlideHistogram> {
  const sum = new Float64Array(HISTOGRAM_BINS);
  let count = 0;
  let pending: Promise<TileCounts>[] = [];
  const flush = async () => {
    for (const c of await Promise.all(pending)) addTileCounts(c, sum);
    count += pending.length;
    onTiles?.(pending.length);
    pending = [];
  };
  for await (const tile of readTileRecords(path, { reuseBuffers: true })) {
    const plain = plainPngCounts(tile.image);
    if (plain) pending.push(Promise.resolve(plain));
    else {
      const kept = { ...tile, image: Buffer.from(tile.image) };
      const counted = decodeTile(path, count + pending.length, kept, (r) => tileCounts(r.image));
      counted.catch(() => undefined); // its error is awaited in flush(); until then it is not unhandled
      pending.push(counted);
    }
    if (pending.length >= concurrency) await flush();
  }
  if (pending.length) await flush();
  return { sum, count };
}

/** `/<slide>/histogram.safetensors`: sum [16,16,16] F64 and count [1] I64. */
export function writeHistogram(path: string, h: SlideHistogram, slide: string): void {
  writeSafetensors(path, histogramTensors(h.sum, h.count), { slide, ...HISTOGRAM_METADATA });
}
