/**
 * Colour histograms (DESIGN.md step 5): per tile a 16x16x16 RGB histogram (bin = value >> 4,
 * index r*256 + g*16 + b) normalized to sum 1; per slide the sum over tiles and the tile count.
 */
import { HISTOGRAM_BINS, HISTOGRAM_METADATA, histogramTensors } from '../../shared/contract/index.js';
import { decodeRgb } from '../../shared/image.js';
import { decodeTile } from '../../shared/tiles/index.js';
import { writeSafetensors } from '../../shared/safetensors.js';
import { readTileRecords, type TileRecord } from '../../shared/tile-record.js';

/** Add one tile's normalized histogram (packed RGB bytes) into `sum`. */
export function addTileHistogram(rgb: Uint8Array, sum: Float64Array): void {
  const pixels = rgb.length / 3;
  if (!pixels) return;
  const counts = new Uint32Array(HISTOGRAM_BINS);
  for (let p = 0; p < rgb.length; p += 3) counts[((rgb[p] >> 4) << 8) | ((rgb[p + 1] >> 4) << 4) | (rgb[p + 2] >> 4)]++;
  for (let i = 0; i < HISTOGRAM_BINS; i++) if (counts[i]) sum[i] += counts[i] / pixels; // a division rounds once
}

export interface SlideHistogram {
  sum: Float64Array;
  count: number;
}

/** Stream a tiles.tfrecord; `concurrency` tiles are decoded at once. */
export async function slideHistogram(
  path: string,
  concurrency = 8,
  onTiles?: (n: number) => void,
): Promise<SlideHistogram> {
  const sum = new Float64Array(HISTOGRAM_BINS);
  let count = 0;
  let group: TileRecord[] = [];
  const flush = async () => {
    const decoded = await Promise.all(group.map((t, i) => decodeTile(path, count + i, t, (r) => decodeRgb(r.image))));
    for (const img of decoded) addTileHistogram(img.data, sum);
    count += group.length;
    onTiles?.(group.length);
    group = [];
  };
  for await (const tile of readTileRecords(path)) {
    group.push(tile);
    if (group.length >= concurrency) await flush();
  }
  if (group.length) await flush();
  return { sum, count };
}

/** `/<slide>/histogram.safetensors`: sum [16,16,16] F64 and count [1] I64. */
export function writeHistogram(path: string, h: SlideHistogram, slide: string): void {
  writeSafetensors(path, histogramTensors(h.sum, h.count), { slide, ...HISTOGRAM_METADATA });
}
