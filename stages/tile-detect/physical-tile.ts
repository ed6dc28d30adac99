/**
 * Tiles of a physical size (TILE_UM or TARGET_MPP): a 20x slide (~0.5 um/px) and a 40x one (~0.25 um/px) give tiles of
 * the same tissue area, as slideflow's `tile_um`, TRIDENT's `--mag` and hs2p's spacing do. From the slide's resolution
 * (or the manifest's, which wins) follow the tile's side in level-0 pixels, the tissue rule's low-resolution view (a tile spans as
 * many overview pixels as in the default, TILE_SIZE / DOWNSAMPLE), and the pyramid level tile-extract reads before
 * resizing to TILE_SIZE: the one with the largest downsample that still has at least the output's resolution.
 */
import { levelFor } from '../../shared/slide/levels.js';
import type { SlideLevel } from '../../shared/slide/types.js';

export interface PhysicalRequest {
  /** the tile's side in micrometres (TILE_UM, or TILE_SIZE x TARGET_MPP) */
  tileUm: number;
  /** the output tile's side in pixels (TILE_SIZE) */
  outputPx: number;
  /** the default's overview downsample for a TILE_SIZE tile (DOWNSAMPLE) */
  downsample: number;
}

export interface PhysicalTile {
  /** micrometres per level-0 pixel used, and where it came from */
  mpp: number;
  mppSource: 'slide' | 'manifest';
  tileUm: number;
  /** the tile's side in level-0 pixels (tiles.json's x, y stay level-0 pixels, loc_x/loc_y their centres) */
  level0Px: number;
  outputPx: number;
  /** the overview downsample the tissue rule runs at */
  overviewDownsample: number;
  /** what tile-extract reads: this level, a readPx square of it, resized to outputPx */
  readLevel: number;
  readDownsample: number;
  readPx: number;
}

/** Physical tiling was asked for and the slide does not say how large its pixels are. */
export class NoResolutionError extends Error {
  constructor(readonly why: string) {
    super(why);
    this.name = 'NoResolutionError';
  }
}

/** Pixels more than 2% from square are refused: one tile side in um would then be two sides in pixels. */
const SQUARE_TOLERANCE = 0.02;

export function planPhysicalTile(
  req: PhysicalRequest,
  levels: readonly Pick<SlideLevel, 'downsample'>[],
  slideMpp: { x: number; y: number } | undefined,
  /** the manifest's resolution for this slide (manifest-mpp's /mpp/<slide>.json) */
  manifestMpp?: number,
): PhysicalTile {
  let mpp: number;
  let mppSource: PhysicalTile['mppSource'];
  if (manifestMpp !== undefined) {
    mpp = manifestMpp;
    mppSource = 'manifest';
  } else {
    if (!slideMpp || !(slideMpp.x > 0) || !(slideMpp.y > 0)) {
      throw new NoResolutionError(
        `tiles of ${req.tileUm} um were asked for, but the slide does not say its resolution ` +
          `(no openslide.mpp-x/mpp-y, no TIFF resolution tags)`,
      );
    }
    if (Math.abs(slideMpp.x / slideMpp.y - 1) > SQUARE_TOLERANCE) {
      throw new NoResolutionError(
        `the slide's pixels are not square (mpp x ${slideMpp.x}, y ${slideMpp.y}); physical tiles need square pixels`,
      );
    }
    mpp = (slideMpp.x + slideMpp.y) / 2;
    mppSource = 'slide';
  }
  const level0Px = Math.max(1, Math.round(req.tileUm / mpp));
  // The one level policy (shared/slide/levels.ts): the coarsest level with at least the output's resolution.
  const { level: readLevel, levelDownsample: readDownsample } = levelFor(levels, level0Px / req.outputPx);
  return {
    mpp,
    mppSource,
    tileUm: req.tileUm,
    level0Px,
    outputPx: req.outputPx,
    overviewDownsample: (level0Px * req.downsample) / req.outputPx,
    readLevel,
    readDownsample,
    readPx: Math.max(1, Math.round(level0Px / readDownsample)),
  };
}
