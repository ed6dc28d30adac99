/**
 * A slide's overview at a requested downsample, read from the pyramid level chosen by `chooseLevel` and
 * area-averaged the rest of the way (or used as it is when within tolerance of the target). The level is read in tile-aligned strips and blocks, several blocks in
 * flight, so every stored tile is decoded once and memory is bounded by the strip, never by the slide: a slide
 * without a pyramid is streamed from level 0 without ever holding it.
 */
import { AreaResampler } from './area-resampler.js';
import { chooseLevel, LEVEL_TOLERANCE, overviewSize } from './levels.js';
import type { Overview, SlideLevel } from './types.js';

export interface RegionSource {
  readonly levels: readonly SlideLevel[];
  /** RGB of a w x h rectangle at `level`, top-left (x, y) in level-0 coordinates. */
  readRegion(level: number, x: number, y: number, w: number, h: number): Promise<Buffer>;
  /** The stored tile size of a level, when known (reads aligned to it decode each tile once). */
  tileSize?(level: number): { width: number; height: number } | undefined;
}

export interface StreamOptions {
  /** Blocks read at once. */
  inFlight?: number;
  /** About how many level pixels one block holds. */
  blockPixels?: number;
}

export async function streamOverview(src: RegionSource, downsample: number, options: StreamOptions = {}): Promise<Overview> {
  const inFlight = options.inFlight ?? 4;
  const blockPixels = options.blockPixels ?? 1 << 20;
  const level0 = src.levels[0];
  const out = overviewSize(level0.width, level0.height, downsample);
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
  const size = asIs ? { width: lw, height: lh } : out;
  const resampler = asIs ? new BlockCopy(lw, lh) : new AreaResampler(lw, lh, out.width, out.height);
  for (let ly = 0; ly < lh; ly += stripHeight) {
    const h = Math.min(stripHeight, lh - ly);
    const blocks: number[] = [];
    for (let lx = 0; lx < lw; lx += blockWidth) blocks.push(lx);
    let next = 0;
    const worker = async () => {
      while (next < blocks.length) {
        const lx = blocks[next++];
        const w = Math.min(blockWidth, lw - lx);
        const rgb = await src.readRegion(level, Math.round(lx * ld), Math.round(ly * ld), w, h);
        resampler.addBlock(rgb, lx, ly, w, h);
      }
    };
    await Promise.all(Array.from({ length: Math.min(inFlight, blocks.length) }, worker));
    resampler.flushRowsBefore(ly + h);
  }
  return {
    width: size.width,
    height: size.height,
    data: resampler.finish(),
    downsample,
    scaleX: level0.width / size.width,
    scaleY: level0.height / size.height,
    level,
    levelDownsample: ld,
  };
}

/** Blocks copied into one image, for a level used as it is. */
class BlockCopy {
  private readonly output: Buffer;
  constructor(
    private readonly width: number,
    height: number,
  ) {
    this.output = Buffer.alloc(width * height * 3);
  }
  addBlock(rgb: Buffer, bx: number, by: number, bw: number, bh: number): void {
    for (let r = 0; r < bh; r++) rgb.copy(this.output, ((by + r) * this.width + bx) * 3, r * bw * 3, (r + 1) * bw * 3);
  }
  flushRowsBefore(_y: number): void {}
  finish(): Buffer {
    return this.output;
  }
}
