/**
 * A slide's overview at a requested downsample, read from the pyramid level the policy (levels.ts `levelFor`)
 * gives and area-averaged the rest of the way (or used as it is when within tolerance of the target). The level
 * is read in tile-aligned strips and blocks, several blocks in flight, so every stored tile is decoded once; the
 * overview comes out as horizontal strips of rows, top to bottom, so a caller that consumes them as they come
 * (tile-detect) never holds the overview, and a slide without a pyramid is streamed from level 0 without ever
 * holding it. Reading runs ahead of the consumer by a few blocks: the next strip decodes while the current one is
 * used. Blocks are pooled reads, released once used, so with a reader that reuses its buffers (OpenSlide) the
 * memory held is a few blocks, however many the slide has: a strip's pixels are valid until the next strip is
 * asked for.
 */
import { AreaResampler } from './area-resampler.js';
import { BufferPool } from './buffer-pool.js';
import { overviewGeometry } from './levels.js';
import type {
  Overview,
  OverviewGeometry,
  OverviewPiece,
  OverviewStrip,
  OverviewStrips,
  PooledPixels,
  Slide,
  StreamOptions,
} from './types.js';

/** What the overview reads from: a slide's levels, its pooled reads and its tile sizes. */
export type RegionSource = Pick<Slide, 'levels' | 'readRegionPooled' | 'tileSize'>;

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
export function planOverview(
  src: Pick<RegionSource, 'levels' | 'tileSize'>,
  downsample: number,
  blockPixels = BLOCK_PIXELS,
): OverviewPlan {
  const { geometry, asIs } = overviewGeometry(src.levels, downsample);
  const { level, levelDownsample: ld } = geometry;
  const { width: lw, height: lh } = src.levels[level];
  const tile = src.tileSize(level) ?? { width: 256, height: 256 };

  // Whole rows when a strip of tile height is small; else tile-aligned columns of about blockPixels.
  const stripHeight = Math.min(lh, tile.height * Math.max(1, Math.floor(Math.sqrt(blockPixels) / tile.height)));
  const blockWidth =
    lw * stripHeight <= blockPixels
      ? lw
      : Math.min(lw, tile.width * Math.max(1, Math.round(blockPixels / stripHeight / tile.width)));

  const blocks: Block[] = [];
  const stripCount = Math.ceil(lh / stripHeight);
  for (let s = 0; s < stripCount; s++) {
    const ly = s * stripHeight;
    const h = Math.min(stripHeight, lh - ly);
    for (let lx = 0; lx < lw; lx += blockWidth) {
      blocks.push({
        strip: s,
        lx,
        ly,
        w: Math.min(blockWidth, lw - lx),
        h,
        x0: Math.round(lx * ld),
        y0: Math.round(ly * ld),
      });
    }
  }
  return { geometry, asIs, blocks, stripCount };
}

/** The overview of `src` as strips, read as described above. */
export function streamOverviewStrips(
  src: RegionSource,
  downsample: number,
  options: StreamOptions = {},
): OverviewStrips {
  const inFlight = options.inFlight ?? 4;
  const readAhead = Math.max(inFlight, options.readAhead ?? 2 * inFlight);
  const { geometry, asIs, blocks, stripCount } = planOverview(src, downsample, options.blockPixels);
  const { level } = geometry;
  const { width: lw, height: lh } = src.levels[level];
  const size = geometry;

  async function* strips(): AsyncGenerator<OverviewStrip> {
    /** Strips ready for the consumer, each with what gives its buffers back once it is done with them. */
    const ready: { strip: OverviewStrip; release: () => void }[] = [];
    // Blocks are the reader's pooled reads; resampled rows come from a pool of their own.
    const rowPool = new BufferPool(4);
    const read = (b: Block) => src.readRegionPooled(level, b.x0, b.y0, b.w, b.h);
    const resampler = asIs
      ? new StripPieces()
      : new AreaResampler(
          lw,
          lh,
          size.width,
          size.height,
          (y, rows, data) => {
            const strip = { y, rows, pieces: [{ x: 0, width: size.width, data }] };
            ready.push({ strip, release: () => rowPool.give(data) });
          },
          rowPool,
        );
    const remaining = new Int32Array(stripCount);
    for (const b of blocks) remaining[b.strip]++;
    /** Blocks of later strips that arrived before the strip being assembled was complete. */
    const held = new Map<number, PooledPixels>();
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
    const feed = (i: number, rgb: PooledPixels) => {
      const b = blocks[i];
      fed[i] = 1;
      if (resampler instanceof StripPieces) {
        resampler.addBlock(rgb, b.lx, b.w);
      } else {
        resampler.addBlock(rgb.data, b.lx, b.ly, b.w, b.h);
        // The resampler has taken what it needs of the block.
        rgb.release();
      }
      if (--remaining[b.strip] > 0) return false;
      if (resampler instanceof StripPieces) ready.push(resampler.take(b.ly, b.h));
      else resampler.flushRowsBefore(b.ly + b.h);
      return true;
    };
    /** Feed what can be fed in order: the strip being assembled, then held blocks of the strips after it. */
    const arrived = (i: number, rgb: PooledPixels) => {
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
          const { strip, release } = ready.shift()!;
          wakeWorkers();
          yield strip;
          release();
        }
        if (failure !== undefined) throw failure;
        if (current >= stripCount) break;
        await new Promise<void>((r) => (wake = r));
      }
      if (!asIs) (resampler as AreaResampler).finish();
      while (ready.length > 0) {
        const { strip, release } = ready.shift()!;
        yield strip;
        release();
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
export async function streamOverview(
  src: RegionSource,
  downsample: number,
  options: StreamOptions = {},
): Promise<Overview> {
  const { geometry, strips } = streamOverviewStrips(src, downsample, options);
  return { ...geometry, data: await gatherStrips(geometry, strips) };
}

/** Strips of a width x height image into one buffer. */
export async function gatherStrips(
  size: { width: number; height: number },
  strips: AsyncIterable<OverviewStrip>,
): Promise<Buffer> {
  const data = Buffer.alloc(size.width * size.height * 3);
  for await (const s of strips) {
    for (const piece of s.pieces) {
      for (let r = 0; r < s.rows; r++)
        piece.data.copy(data, ((s.y + r) * size.width + piece.x) * 3, r * piece.width * 3, (r + 1) * piece.width * 3);
    }
  }
  return data;
}

/** The blocks of one strip of a level used as it is: they are the strip's pieces as they are. */
class StripPieces {
  private pieces: { piece: OverviewPiece; release: () => void }[] = [];
  addBlock(rgb: PooledPixels, bx: number, bw: number): void {
    this.pieces.push({ piece: { x: bx, width: bw, data: rgb.data }, release: rgb.release });
  }
  take(y: number, rows: number): { strip: OverviewStrip; release: () => void } {
    const held = this.pieces.sort((a, b) => a.piece.x - b.piece.x);
    this.pieces = [];
    return { strip: { y, rows, pieces: held.map((p) => p.piece) }, release: () => held.forEach((p) => p.release()) };
  }
}
