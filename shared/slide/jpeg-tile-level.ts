/**
 * A JPEG-tiled TIFF level read directly: each stored tile's bytes read from the file and decoded by libjpeg-turbo,
 * the way OpenSlide 3.4/4.0 decodes them for generic TIFF and Aperio (the JPEGTables loaded first, the colour space
 * taken from the photometric tag, libjpeg's defaults, B G R A words), so the pixels are OpenSlide's own
 * (test/slide/jpeg-tile-level.test.ts compares them). OpenSlide spends most of a 448 px read around the decode:
 * it reopens the file for every read call and paints each tile through cairo. Here a region costs the decodes of
 * the tiles it covers that are not cached, plus a row copy.
 *
 * Whatever this reader does not take as OpenSlide would (a missing or garbled tile, another colour space, a
 * decoding error, a region past the level's edge) answers false, and the caller reads the region through OpenSlide,
 * which then gives its own pixels or its own error.
 */
import { type FileHandle, open } from 'node:fs/promises';
import type { TurboJpeg } from '../jpeg-turbo.js';
import { TAG, TiffFile, TiffStructureError } from './tiff-directory.js';

/** TIFF Compression: JPEG (the technote's "new-style" JPEG, as OpenSlide reads directly). */
const COMPRESSION_JPEG = 7;
const PHOTOMETRIC_RGB = 2;
const PHOTOMETRIC_YCBCR = 6;
/** Decoded tiles kept at least and at most, in bytes (the least is OpenSlide's own default cache size). */
const CACHE_BYTES_MIN = 32 << 20;
const CACHE_BYTES_MAX = 128 << 20;

export interface JpegTileLevelOptions {
  /** Bytes of decoded tiles kept, instead of a row of tiles and some between CACHE_BYTES_MIN and _MAX (tests). */
  cacheBytes?: number;
}

export interface LevelGeometry {
  width: number;
  height: number;
  tileWidth: number;
  tileHeight: number;
}

/** A decoded tile in the cache: `ready` says whether its pixels are OpenSlide's; `pins` are reads copying from it. */
interface CachedTile {
  /** whether the last region read from it ended in its row: the next row of regions may start there */
  atBottom: boolean;
  pixels: Buffer;
  ready: Promise<boolean>;
  pins: number;
}

export class JpegTileLevel {
  private readonly cache = new Map<number, CachedTile>();
  private readonly spare: Buffer[] = [];
  private readonly capacity: number;
  private readonly columns: number;
  private closed = false;

  private constructor(
    private readonly file: FileHandle,
    private readonly geometry: LevelGeometry,
    private readonly offsets: Float64Array,
    private readonly byteCounts: Float64Array,
    /** JPEGTables without its end marker, put before each tile's stream in place of the tile's start marker. */
    private readonly tablesHead: Buffer | undefined,
    private readonly colorSpace: 'ycbcr' | 'rgb',
    private readonly jpeg: TurboJpeg,
    options: JpegTileLevelOptions,
  ) {
    this.columns = Math.ceil(geometry.width / geometry.tileWidth);
    // A row of tiles and some: regions read row by row share the tile row between them (see evict)
    const tileBytes = geometry.tileWidth * geometry.tileHeight * 4;
    this.capacity =
      options.cacheBytes !== undefined
        ? Math.max(2, Math.floor(options.cacheBytes / tileBytes))
        : Math.min(
            Math.max(this.columns + 64, Math.floor(CACHE_BYTES_MIN / tileBytes)),
            Math.max(16, Math.floor(CACHE_BYTES_MAX / tileBytes)),
          );
  }

  /**
   * The first directory of `path` with exactly `level`'s size and tile size, when it holds 8-bit, 3-sample,
   * chunky JPEG tiles with an RGB or YCbCr photometric tag; otherwise undefined (OpenSlide reads it all).
   */
  static async open(
    path: string,
    level: LevelGeometry,
    jpeg: TurboJpeg,
    options: JpegTileLevelOptions = {},
  ): Promise<JpegTileLevel | undefined> {
    const file = await open(path, 'r');
    try {
      const tiff = await TiffFile.read(file);
      for (const dir of tiff.directories) {
        const int = (tag: number) => tiff.integer(dir, tag);
        if (
          (await int(TAG.imageWidth)) !== level.width ||
          (await int(TAG.imageLength)) !== level.height ||
          (await int(TAG.tileWidth)) !== level.tileWidth ||
          (await int(TAG.tileLength)) !== level.tileHeight
        )
          continue;
        const photometric = await int(TAG.photometric);
        const bits = await tiff.integers(dir, TAG.bitsPerSample);
        const supported =
          (await int(TAG.compression)) === COMPRESSION_JPEG &&
          (photometric === PHOTOMETRIC_RGB || photometric === PHOTOMETRIC_YCBCR) &&
          ((await int(TAG.samplesPerPixel)) ?? 1) === 3 &&
          ((await int(TAG.planarConfig)) ?? 1) === 1 &&
          bits?.every((b) => b === 8) === true;
        if (!supported) break;
        const tiles = Math.ceil(level.width / level.tileWidth) * Math.ceil(level.height / level.tileHeight);
        const offsets = await tiff.integers(dir, TAG.tileOffsets);
        const byteCounts = await tiff.integers(dir, TAG.tileByteCounts);
        if (!offsets || !byteCounts || offsets.length < tiles || byteCounts.length < tiles) break;
        for (let i = 0; i < tiles; i++) if (offsets[i] + byteCounts[i] > tiff.size) byteCounts[i] = 0;
        const tables = await tiff.bytes(dir, TAG.jpegTables);
        const tablesHead = tables ? tablesWithoutEnd(tables) : undefined;
        if (tables && !tablesHead) break;
        const space = photometric === PHOTOMETRIC_YCBCR ? 'ycbcr' : 'rgb';
        return new JpegTileLevel(file, level, offsets, byteCounts, tablesHead, space, jpeg, options);
      }
    } catch (err) {
      await file.close();
      if (err instanceof TiffStructureError) return undefined;
      throw err;
    }
    await file.close();
    return undefined;
  }

  /**
   * Whether this reader takes the region: it lies inside the level (one past an edge goes to OpenSlide, which clips
   * it) and covers at most half the cache's tiles (a read holds all its tiles at once: a bigger one goes to
   * OpenSlide, which draws tile after tile).
   */
  covers(x: number, y: number, w: number, h: number): boolean {
    const { width, height, tileWidth: tw, tileHeight: th } = this.geometry;
    if (!(Number.isInteger(x) && Number.isInteger(y) && x >= 0 && y >= 0 && x + w <= width && y + h <= height))
      return false;
    const tiles =
      (Math.floor((x + w - 1) / tw) - Math.floor(x / tw) + 1) * (Math.floor((y + h - 1) / th) - Math.floor(y / th) + 1);
    return tiles <= this.capacity / 2;
  }

  /**
   * The region's pixels into `dest` (w*h*4 bytes) as B, G, R, A words, A = 255. False, with `dest` undefined,
   * where some tile is not read as OpenSlide would read it.
   */
  async read(dest: Buffer, x: number, y: number, w: number, h: number): Promise<boolean> {
    if (this.closed) throw new Error('JpegTileLevel: read after close');
    const { tileWidth: tw, tileHeight: th } = this.geometry;
    const c0 = Math.floor(x / tw);
    const c1 = Math.floor((x + w - 1) / tw);
    const r0 = Math.floor(y / th);
    const r1 = Math.floor((y + h - 1) / th);
    const pinned: { tile: CachedTile; col: number; row: number }[] = [];
    for (let row = r0; row <= r1; row++)
      for (let col = c0; col <= c1; col++) {
        const tile = this.pin(row * this.columns + col);
        tile.atBottom = row === r1;
        pinned.push({ tile, col, row });
      }
    try {
      const ok = await Promise.all(pinned.map((p) => p.tile.ready));
      if (!ok.every(Boolean)) return false;
      const rowBytes = w * 4;
      for (const { tile, col, row } of pinned) {
        // the overlap of this tile and the region, in level pixels
        const left = Math.max(x, col * tw);
        const right = Math.min(x + w, (col + 1) * tw);
        const top = Math.max(y, row * th);
        const bottom = Math.min(y + h, (row + 1) * th);
        const bytes = (right - left) * 4;
        let from = ((top - row * th) * tw + (left - col * tw)) * 4;
        let to = (top - y) * rowBytes + (left - x) * 4;
        for (let line = top; line < bottom; line++, from += tw * 4, to += rowBytes)
          tile.pixels.copy(dest, to, from, from + bytes);
      }
      return true;
    } finally {
      for (const p of pinned) p.tile.pins--;
      this.evict();
    }
  }

  /** Decoded tiles held now (at most the capacity, but for those pinned by reads in flight). */
  get cachedTiles(): number {
    return this.cache.size;
  }

  /** Waits for decodes in flight, then closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.cache.values()].map((t) => t.ready));
    this.cache.clear();
    await this.file.close();
  }

  /** The cached tile, its decode started if it was not cached; marked most recently used and pinned. */
  private pin(index: number): CachedTile {
    let tile = this.cache.get(index);
    if (tile) this.cache.delete(index);
    else {
      const { tileWidth: tw, tileHeight: th } = this.geometry;
      const pixels = this.spare.pop() ?? Buffer.allocUnsafeSlow(tw * th * 4);
      tile = { atBottom: false, pixels, pins: 0, ready: this.decode(index, pixels).catch(() => false) };
    }
    this.cache.set(index, tile);
    tile.pins++;
    return tile;
  }

  /**
   * Tiles past the capacity leave the cache, least recently used first, but those at the bottom of their last
   * region only when no other is left: regions are read row by row (tiles.json's order), and the tile row at the
   * bottom of one row of regions is the top of the next. Their buffers serve later decodes.
   */
  private evict(): void {
    for (const bottomToo of [false, true]) {
      if (this.cache.size <= this.capacity) return;
      for (const [index, tile] of this.cache) {
        if (this.cache.size <= this.capacity) return;
        if (tile.pins > 0 || (tile.atBottom && !bottomToo)) continue;
        this.cache.delete(index);
        // its decode may still be writing: the buffer is reused only once that settles
        void tile.ready.then(() => {
          if (this.spare.length < 8) this.spare.push(tile.pixels);
        });
      }
    }
  }

  private async decode(index: number, pixels: Buffer): Promise<boolean> {
    const count = this.byteCounts[index];
    if (!(count > 2)) return false; // missing: OpenSlide draws it (transparent) and says so
    const head = this.tablesHead;
    // the tile's stream read so that its start marker lands where the tables' end, then the tables copied over it
    const lead = head ? head.length - 2 : 0;
    const stream = Buffer.allocUnsafe(lead + count);
    const { bytesRead } = await this.file.read(stream, lead, count, this.offsets[index]);
    if (bytesRead !== count) return false;
    // OpenSlide's test for a tile overwritten by some Aperio scanners: it draws such a tile as missing
    if (stream[lead] === 0x11 || (stream[lead] === 0xff && stream[lead + 1] === 0x11)) return false;
    if (head) {
      if (stream[lead] !== 0xff || stream[lead + 1] !== 0xd8) return false;
      head.copy(stream, 0);
    }
    const { tileWidth: width, tileHeight: height } = this.geometry;
    return this.jpeg.decodeBgraInto(stream, pixels, width * 4, { width, height, colorSpace: this.colorSpace });
  }
}

/** JPEGTables (start marker, tables, end marker) without its end marker, or undefined when it is not that shape. */
function tablesWithoutEnd(tables: Buffer): Buffer | undefined {
  const n = tables.length;
  if (n < 4 || tables[0] !== 0xff || tables[1] !== 0xd8 || tables[n - 2] !== 0xff || tables[n - 1] !== 0xd9)
    return undefined;
  return tables.subarray(0, n - 2);
}
