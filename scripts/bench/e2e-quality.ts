/**
 * How far the pixels a stage reads are from the slide: each tile of a tiles.tfrecord decoded and compared with
 * the slide's own pixels at its location (read with the project's reader, as tile-extract reads them). With the
 * identity normalize model, normalize's tiles should differ from the slide by one JPEG generation, no more.
 */
import { decodeRgb } from '../../shared/image.js';
import { openSlide } from '../../shared/slide/index.js';
import { readTileRecords } from '../../shared/tile-record.js';

export interface Loss {
  tiles: number;
  meanAbs: number;
  maxAbs: number;
  /** Over all compared pixels together (one MSE). */
  psnr: number;
  /** Mean encoded bytes per tile. */
  bytes: number;
}

/** Compare the first `count` tiles of `tilesPath` with `slidePath` at their loc_x/loc_y (tile centres). */
export async function lossVsSlide(slidePath: string, tilesPath: string, count: number): Promise<Loss> {
  const slide = await openSlide(slidePath);
  let n = 0;
  let sumAbs = 0;
  let sumSq = 0;
  let maxAbs = 0;
  let values = 0;
  let bytes = 0;
  try {
    for await (const t of readTileRecords(tilesPath)) {
      const img = await decodeRgb(t.image);
      const ref = await slide.readRegion(0, t.locX - img.width / 2, t.locY - img.height / 2, img.width, img.height);
      for (let i = 0; i < img.data.length; i++) {
        const d = Math.abs(img.data[i] - ref[i]);
        sumAbs += d;
        sumSq += d * d;
        if (d > maxAbs) maxAbs = d;
      }
      values += img.data.length;
      bytes += t.image.length;
      if (++n >= count) break;
    }
  } finally {
    await slide.close();
  }
  const mse = sumSq / values;
  return {
    tiles: n,
    meanAbs: sumAbs / values,
    maxAbs,
    psnr: mse > 0 ? 10 * Math.log10((255 * 255) / mse) : Infinity,
    bytes: bytes / n,
  };
}
