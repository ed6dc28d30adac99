/**
 * A slide's overview at a requested downsample, read from the pyramid level chosen by `chooseLevel` and
 * area-averaged the rest of the way (or used as it is when within tolerance of the target). The level is read in
 * tile-aligned strips and blocks, several blocks in flight, so every stored tile is decoded once; the overview
 * comes out as horizontal strips of rows, top to bottom, so a caller that consumes them as they come (tile-detect)
 * never holds the overview, and a slide without a pyramid is streamed from level 0 without ever holding it.
 * Reading runs ahead of the consumer by a few blocks: the next strip decodes while the current one is used.
 * With a reader that decodes into given buffers (OpenSlide), blocks live in a pool and go back to it once used, so
 * the memory held is a few blocks, however many the slide has: a strip's pixels are valid until the next strip
 * is asked for.
 */
import { AreaResampler } from './area-resampler.js';
import { BufferPool } from './buffer-pool.js';
import { chooseLevel, LEVEL_TOLERANCE, overviewSize } from './levels.js';
import type { Overview, SlideLevel } from './types.js';

export interface RegionSource {
  readonly levels: readonly SlideLevel[];
  /** RGB of a w x h rectangle at `level`, top-left (x, y) in level-0 coordinates. */
  readRegion(level: number, x: number, y: number, w: number, h: number): Promise<Buffer>;
  /** As readRegion, into `dest` (w*h*4 bytes at least), the RGB a view of its start (see Slide.readRegionInto). */
  readRegionInto?(level: number, x: number, y: number, w: number, h: number, dest: Buffer): Promise<Buffer>;
  /** The stored tile size of a level, when known (reads aligned to it decode each tile once). */
  tileSize?(level: number): { width: number; height: number } | undefined;
}

export interface StreamOptions {
  /** Blocks read at once. */
  inFlight?: number;
  /** About how many level pixels one block holds (default BLOCK_PIXELS). */
  blockPixels?: number;
  /** Blocks read ahead of the strip being assembled (bounds memory; default 2 x inFlight). */
  readAhead?: number;
}

/** An overview without its pixels: its size, scale and where it comes from. */
export type OverviewGeometry = Omit<Overview, 'data'>;

/** Overview rows [y, y + rows) as pieces side by side that cover the overview's width (a level's blocks, no copy). */
export interface OverviewStrip {
  y: number;
  rows: number;
  /** Columns [x, x + width) of those rows, RGB, `width` wide; left to right. */
  pieces: OverviewPiece[];
}

export interface OverviewPiece {
  x: number;
  width: number;
  data: Buffer;
}

export interface OverviewStrips {
  geometry: OverviewGeometry;
  /**
   * Strips top to bottom, covering every row once; iterate once. A strip's pixels are valid until the next
   * strip is asked for (their buffers are then reused): copy what must outlive that.
   */
  strips: AsyncIterable<OverviewStrip>;
}

export interface Block {
  strip: number;
  /** Top-left in level pixels, size, and top-left in level-0 pixels (what readRegion takes). */
  lx: number;
  ly: number;
  w: number;
  h: number;
  x0: number;
  y0: number;
}

/**
 * Default block size: about 1024 x 1024 level pixels. Smaller blocks would hold less in flight at the same speed,
 * but OpenSlide places a region of a level whose downsample is not an integer (16.006) at a sub-pixel offset and
 * resamples it, so the pixels depend on where blocks start: changing this changes overviews (and kept tiles).
 */
export const BLOCK_PIXELS = 1 << 20;

export interface OverviewPlan {
  geometry: OverviewGeometry;
  /** The level is used as it is (no resampling). */
  asIs: boolean;
  /** Level blocks in reading order: strips top to bottom, each left to right. */
  blocks: Block[];
  stripCount: number;
}

/** Which level, which blocks, what size: what the overview reads (the benchmark reads the same blocks alone). */
export function planOverview(src: Pick<RegionSource, 'levels' | 'tileSize'>, downsample: number, blockPixels = BLOCK_PIXELS): OverviewPlan {
  const level0 = src.levels[0];
  const level = chooseLevel(src.levels, downsample);
  const { width: lw, height: lh, downsample: ld } = src.levels[level];
  const tile = src.tileSize?.(level) ?? { width: 256, height: 256 };

  // Whole rows when a strip of tile height is small; else tile-aligned columns of about blockPixels.
  const stripHeight = Math.min(lh, tile.height * Math.max(1, Math.floor(Math.sqrt(blockPixels) / tile.height)));
  const blockWidth =
    lw * stripHeight <= blockPixels ? lw : Math.min(lw, tile.width * Math.max(1, Math.round(blockPixels / stripHeight / tile.width)));

  // A level within tolerance of the target is the overview as it is: resizing it would move pixels by under
  // 1%, and the grid maps pixels through the actual scale anyway.
  const asIs = Math.abs(ld / downsample - 1) <= LEVEL_TOLERANCE;
  const size = asIs ? { width: lw, height: lh } : overviewSize(level0.width, level0.height, downsample);
  const geometry: OverviewGeometry = {
    width: size.width,
    height: size.height,
    downsample,
    scaleX: level0.width / size.width,
    scaleY: level0.height / size.height,
    level,
    levelDownsample: ld,
  };
  const blocks: Block[] = [];
  const stripCount = Math.ceil(lh / stripHeight);
  for (let s = 0; s < stripCount; s++) {
    const ly = s * stripHeight;
    const h = Math.min(stripHeight, lh - ly);
    for (let lx = 0; lx < lw; lx += blockWidth) {
      blocks.push({ strip: s, lx, ly, w: Math.min(blockWidth, lw - lx), h, x0: Math.round(lx * ld), y0: Math.round(ly * ld) });
    }
  }
  return { geometry, asIs, blocks, stripCount };
}

/** The overview of `src` as strips, read as described above. */
export function streamOverviewStrips(src: RegionSource, downsample: number, options: StreamOptions = {}): OverviewStrips {
  const inFlight = options.inFlight ?? 4;
  const readAhead = Math.max(inFlight, options.readAhead ?? 2 * inFlight);
  const { geometry, asIs, blocks, stripCount } = planOverview(src, downsample, options.blockPixels);
  const { level } = geometry;
  const { width: lw, height: lh } = src.levels[level];
  const size = geometry;

  async function* strips(): AsyncGenerator<OverviewStrip> {
    const ready: OverviewStrip[] = [];
    // Blocks (and resampled rows) come from pools and go back once used; readers without readRegionInto
    // allocate as before.
    const blockPool = src.readRegionInto ? new BufferPool(readAhead + inFlight) : undefined;
    const rowPool = new BufferPool(4);
    const read = (b: Block) =>
      blockPool ? src.readRegionInto!(level, b.x0, b.y0, b.w, b.h, blockPool.take(b.w * b.h * 4)) : src.readRegion(level, b.x0, b.y0, b.w, b.h);
    const resampler = asIs
      ? new StripPieces()
      : new AreaResampler(lw, lh, size.width, size.height, (y, rows, data) => ready.push({ y, rows, pieces: [{ x: 0, width: size.width, data }] }), rowPool);
    /** Once the consumer is done with a strip: its buffers back to their pool. */
    const release = (strip: OverviewStrip) => {
      for (const p of strip.pieces) (asIs ? blockPool : rowPool)?.give(p.data);
    };
    const remaining = new Int32Array(stripCount);
    for (const b of blocks) remaining[b.strip]++;
    /** Blocks of later strips that arrived before the strip being assembled was complete. */
    const held = new Map<number, Buffer>();
    let current = 0;
    let firstUnfed = 0;
    let next = 0;
    let failure: unknown;
    let stopped = false;
    let wake: (() => void) | undefined;
    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    const sleepers: (() => void)[] = [];
    const wakeWorkers = () => sleepers.splice(0).forEach((w) => w());

    const fed = new Uint8Array(blocks.length);
    const feed = (i: number, rgb: Buffer) => {
      const b = blocks[i];
      fed[i] = 1;
      resampler.addBlock(rgb, b.lx, b.ly, b.w, b.h);
      // The resampler has taken what it needs of the block.
      if (!asIs) blockPool?.give(rgb);
      if (--remaining[b.strip] > 0) return false;
      if (resampler instanceof StripPieces) ready.push(resampler.take(b.ly, b.h));
      else resampler.flushRowsBefore(b.ly + b.h);
      return true;
    };
    /** Feed what can be fed in order: the strip being assembled, then held blocks of the strips after it. */
    const arrived = (i: number, rgb: Buffer) => {
      if (blocks[i].strip !== current) {
        held.set(i, rgb);
        return;
      }
      let done = feed(i, rgb);
      while (done) {
        current++;
        done = false;
        for (const [k, data] of held) {
          if (blocks[k].strip !== current) continue;
          held.delete(k);
          if (feed(k, data)) done = true;
        }
      }
      while (firstUnfed < blocks.length && fed[firstUnfed]) firstUnfed++;
      notify();
    };

    const worker = async () => {
      while (!stopped && failure === undefined && next < blocks.length) {
        // Run ahead by a bounded number of blocks, and no further than the strip after the one the consumer
        // holds (one strip ready at most), so the blocks held are bounded by about two strips.
        if (next >= firstUnfed + readAhead || ready.length > 0 || (asIs && blocks[next].strip > current + 1)) {
          await new Promise<void>((r) => sleepers.push(r));
          continue;
        }
        const i = next++;
        const b = blocks[i];
        try {
          arrived(i, await read(b));
        } catch (err) {
          failure ??= err;
          notify();
          wakeWorkers();
          return;
        }
      }
    };
    const workers = Promise.all(Array.from({ length: Math.min(inFlight, blocks.length) }, worker));
    try {
      for (;;) {
        while (ready.length > 0) {
          const strip = ready.shift()!;
          wakeWorkers();
          yield strip;
          release(strip);
        }
        if (failure !== undefined) throw failure;
        if (current >= stripCount) break;
        await new Promise<void>((r) => (wake = r));
      }
      if (!asIs) (resampler as AreaResampler).finish();
      while (ready.length > 0) {
        const strip = ready.shift()!;
        yield strip;
        release(strip);
      }
    } finally {
      stopped = true;
      wakeWorkers();
      await workers;
    }
  }

  return { geometry, strips: { [Symbol.asyncIterator]: strips } };
}

/** The whole overview in one image: the strips gathered (for callers that want it; tile-detect does not). */
export async function streamOverview(src: RegionSource, downsample: number, options: StreamOptions = {}): Promise<Overview> {
  const { geometry, strips } = streamOverviewStrips(src, downsample, options);
  return { ...geometry, data: await gatherStrips(geometry, strips) };
}

/** Strips of a width x height image into one buffer. */
export async function gatherStrips(size: { width: number; height: number }, strips: AsyncIterable<OverviewStrip>): Promise<Buffer> {
  const data = Buffer.alloc(size.width * size.height * 3);
  for await (const s of strips) {
    for (const piece of s.pieces) {
      for (let r = 0; r < s.rows; r++) piece.data.copy(data, ((s.y + r) * size.width + piece.x) * 3, r * piece.width * 3, (r + 1) * piece.width * 3);
    }
  }
  return data;
}

/** The blocks of one strip of a level used as it is: they are the strip's pieces as they are. */
class StripPieces {
  private pieces: OverviewPiece[] = [];
  addBlock(rgb: Buffer, bx: number, _by: number, bw: number): void {
    this.pieces.push({ x: bx, width: bw, data: rgb });
  }
  take(y: number, rows: number): OverviewStrip {
    const pieces = this.pieces.sort((a, b) => a.x - b.x);
    this.pieces = [];
    return { y, rows, pieces };
  }
}
