/**
 * Read the kept tiles at level 0, several in flight, encode them, and hand them on in tiles.json order. The first
 * tile that fails stops the run with a TileReadError naming it.
 */
import { BufferPool } from '../../shared/slide/buffer-pool.js';
import type { Tile } from '../../shared/slide/tiles-json.js';
import type { Slide } from '../../shared/slide/types.js';
import { encodeRgb } from '../../shared/image.js';

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


/**
 * Yields the tiles encoded, in order. `inFlight` reads run at all times (a tile frees its read slot once its
 * pixels are in, and encodes beside the next reads); finished tiles wait in order, at most `4 * inFlight` ahead
 * of the consumer, so memory stays bounded by the window, not by the tile count. With a reader that decodes into
 * given buffers (OpenSlide), a tile's pixels live in a pooled buffer that goes back once encoded, so reads
 * allocate as many buffers as the window holds, not one per tile.
 */
export async function* extractTiles(slide: Slide, tiles: readonly Tile[], o: ExtractOptions): AsyncGenerator<EncodedTile> {
  const half = Math.floor(o.tileSize / 2);
  const maxAhead = 4 * o.inFlight;
  const pending = new Map<number, Promise<EncodedTile>>();
  let next = 0;
  let reading = 0;
  let consumed = 0;
  const pool = slide.readRegionInto ? new BufferPool(maxAhead + o.inFlight) : undefined;
  const side = o.tileSize;

  const launch = (): void => {
    while (reading < o.inFlight && next < tiles.length && next - consumed < maxAhead) {
      const index = next++;
      const tile = tiles[index];
      reading++;
      const pixels = pool ? slide.readRegionInto!(0, tile.x, tile.y, side, side, pool.take(side * side * 4)) : slide.readRegion(0, tile.x, tile.y, side, side);
      const read = pixels.then(
        (rgb) => rgb,
        (err: unknown) => {
          throw new TileReadError(tile, index, (err as { why?: string }).why ?? (err as Error).message);
        },
      );
      const done = read.finally(() => {
        reading--;
        launch();
      });
      const encoded = done.then(async (rgb) => {
        try {
          return { tile, image: await encodeRgb({ data: rgb, width: o.tileSize, height: o.tileSize }, o.format, o.quality), locX: tile.x + half, locY: tile.y + half };
        } finally {
          // libvips is done with the pixels once the encode settles.
          pool?.give(rgb);
        }
      });
      encoded.catch(() => undefined); // surfaced in order below
      pending.set(index, encoded);
    }
  };

  try {
    for (; consumed < tiles.length; consumed++) {
      launch();
      const result = await pending.get(consumed)!;
      pending.delete(consumed);
      yield result;
    }
  } finally {
    // On failure or early return, stop launching and let what is running finish before the slide closes.
    next = tiles.length;
    await Promise.allSettled(pending.values());
  }
}
