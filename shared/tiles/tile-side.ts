/** The side of a tiles.tfrecord's tiles, from the first tile's image header (the tiles of a slide share one size). */
import { imageSize } from '../image.js';
import { loadSharp } from '../sharp.js';
import { readTileRecords } from '../tile-record.js';

/**
 * The first tile's side, or undefined: no tiles, a tile that is not square, or one whose header does not read
 * (the stage's own decoding reports that one, with the tile's index).
 */
export async function firstTileSide(path: string): Promise<number | undefined> {
  try {
    for await (const r of readTileRecords(path)) {
      // the header's size; libvips for a format the header reader does not know
      const m = imageSize(r.image) ?? (await (await loadSharp())(r.image).metadata());
      return m.width !== undefined && m.width === m.height ? m.width : undefined;
    }
  } catch {
    return undefined;
  }
  return undefined;
}
