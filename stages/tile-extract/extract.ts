/**
 * Read the kept tiles at level 0, several in flight, encode them, and hand them on in tiles.json order. The first
 * tile that fails stops the run with a TileReadError naming it.
 */
import type { Tile } from '../../shared/contract/index.js';
import type { Slide } from '../../shared/slide/index.js';
import { bgrxJpegEncoder, DEFAULT_TILE_ENCODING, encodeRgb, type JpegChroma } from '../../shared/image.js';

export interface ExtractOptions {
  /** the stored tile's side; without `read`, also its side in level-0 pixels */
  tileSize: number;
  /** physical tiles: read `px` x `px` of `level` (a tile of `level0Px` level-0 pixels) and resize it to tileSize */
  read?: { level: number; px: number; level0Px: number };
  format: 'jpeg' | 'png';
  quality: number;
  /** JPEG chroma subsampling (default 4:4:4). */
  chroma?: JpegChroma;
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
 * of the consumer, so memory stays bounded by the window, not by the tile count. A tile's pixels are a pooled read,
 * released once encoded, so with a reader that reuses its buffers (OpenSlide) reads allocate as many buffers as the
 * window holds, not one per tile. Reads and encodes both run on libuv's threads (koffi's async calls); what stays on
 * the main thread per tile is kept small: an opaque OpenSlide read goes to TurboJPEG as its own BGRX words, without
 * the conversion to RGB (the same JPEG bytes; 1.6 ms of encode instead of 0.9 ms of conversion and 2.2 of encode).
 */
export async function* extractTiles(
  slide: Slide,
  tiles: readonly Tile[],
  o: ExtractOptions,
): AsyncGenerator<EncodedTile> {
  const half = Math.floor((o.read?.level0Px ?? o.tileSize) / 2);
  const level = o.read?.level ?? 0;
  const maxAhead = 4 * o.inFlight;
  const pending = new Map<number, Promise<EncodedTile>>();
  let next = 0;
  let reading = 0;
  let consumed = 0;
  const side = o.read?.px ?? o.tileSize;
  // A level-0 origin that falls between two pixels of the level read makes OpenSlide resample the whole region
  // (3x the CPU of an aligned read of 539 px, scripts/bench/physical-tiles.ts); the tile is resized anyway, so the
  // read starts on the level's nearest pixel, at most half a level pixel from the grid.
  const ds = level > 0 ? slide.levels[level].downsample : 1;
  const onLevelPixel = (v: number) => (ds === 1 ? v : Math.round(Math.round(v / ds) * ds));
  const encoding = { quality: o.quality, chroma: o.chroma ?? DEFAULT_TILE_ENCODING.chroma };
  // BGRX only where the read is the stored tile as it is (a resized one goes through libvips, which wants RGB)
  const bgrxJpeg = o.format === 'jpeg' && side === o.tileSize ? bgrxJpegEncoder() : undefined;
  const readOptions = { bgrx: bgrxJpeg !== undefined };

  const launch = (): void => {
    while (reading < o.inFlight && next < tiles.length && next - consumed < maxAhead) {
      const index = next++;
      const tile = tiles[index];
      reading++;
      const read = slide
        .readRegionPooled(level, onLevelPixel(tile.x), onLevelPixel(tile.y), side, side, readOptions)
        .catch((err: unknown) => {
          throw new TileReadError(tile, index, (err as { why?: string }).why ?? (err as Error).message);
        });
      const done = read.finally(() => {
        reading--;
        launch();
      });
      const encoded = done.then(async (read) => {
        try {
          const pixels = { data: read.data, width: side, height: side };
          const image =
            read.layout === 'bgrx'
              ? await bgrxJpeg!(pixels, encoding)
              : await encodeRgb(pixels, o.format, encoding, o.tileSize);
          return { tile, image, locX: tile.x + half, locY: tile.y + half };
        } finally {
          // the encoder (TurboJPEG or libvips) is done with the pixels once the encode settles.
          read.release();
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
