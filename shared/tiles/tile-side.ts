/** The side of a tiles.tfrecord's tiles, from the first tile's image header (the tiles of a slide share one size). */
import sharp from 'sharp';
import { readTileRecords } from '../tile-record.js';

/**
 * The first tile's side, or undefined: no tiles, a tile that is not square, or one whose header does not read
 * (the stage's own decoding reports that one, with the tile's index).
 */
export async function firstTileSide(path: string): Promise<number | undefined> {
  try {
    for await (const r of readTileRecords(path)) {
      const m = await sharp(r.image).metadata();
      return m.width !== undefined && m.width === m.height ? m.width : undefined;
    }
  } catch {
    return undefined;
  }
  return undefined;
}
