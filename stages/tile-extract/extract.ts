/**
 * Read the kept tiles at level 0, several in flight, encode them, and hand them on in tiles.json order. A window
 * of `inFlight` tiles bounds memory whatever the tile count. The first tile that fails stops the run with a
 * TileReadError naming it.
 */
import sharp from 'sharp';
import type { Tile } from '../../shared/slide/tiles-json.js';
import type { Slide } from '../../shared/slide/types.js';

export interface ExtractOptions {
  tileSize: number;
  format: 'jpeg' | 'png';
  quality: number;
  inFlight: number;
}

export interface EncodedTile {
  tile: Tile;
  image: Buffer;
  /** slideflow's location: the tile's centre in level-0 pixels. */
  locX: number;
  locY: number;
}

export class TileReadError extends Error {
  constructor(
    readonly tile: Tile,
    readonly index: number,
    readonly why: string,
  ) {
    super(`tile ${index} (col ${tile.col}, row ${tile.row}, level-0 x ${tile.x}, y ${tile.y}) cannot be read: ${why}`);
    this.name = 'TileReadError';
  }
}

export function encodeTile(rgb: Buffer, size: number, format: 'jpeg' | 'png', quality: number): Promise<Buffer> {
  const image = sharp(rgb, { raw: { width: size, height: size, channels: 3 } });
  return (format === 'jpeg' ? image.jpeg({ quality, chromaSubsampling: '4:2:0' }) : image.png({ compressionLevel: 6 })).toBuffer();
}

/** Yields the tiles encoded, in order. */
export async function* extractTiles(slide: Slide, tiles: readonly Tile[], o: ExtractOptions): AsyncGenerator<EncodedTile> {
  sharp.cache(false);
  const half = Math.floor(o.tileSize / 2);
  const job = async (index: number): Promise<EncodedTile> => {
    const tile = tiles[index];
    let rgb: Buffer;
    try {
      rgb = await slide.readRegion(0, tile.x, tile.y, o.tileSize, o.tileSize);
    } catch (err) {
      throw new TileReadError(tile, index, (err as { why?: string }).why ?? (err as Error).message);
    }
    const image = await encodeTile(rgb, o.tileSize, o.format, o.quality);
    return { tile, image, locX: tile.x + half, locY: tile.y + half };
  };
  const window: Promise<EncodedTile>[] = [];
  let next = 0;
  try {
    while (next < tiles.length && window.length < o.inFlight) window.push(job(next++));
    while (window.length > 0) {
      const done = await window.shift()!;
      if (next < tiles.length) window.push(job(next++));
      yield done;
    }
  } finally {
    // On failure or early return, let the reads still running finish before the caller closes the slide.
    await Promise.allSettled(window);
  }
}
