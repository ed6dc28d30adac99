/**
 * `/<slide>/tiles.json`, written by tile-detect and read by tile-extract (and, for its counts, merge): the slide's
 * facts, the parameters used, and the kept tiles in level-0 pixels. One zod schema gives both the type and the check.
 */
import { readFileSync } from 'node:fs';
import * as z from 'zod';
import { TILES_JSON } from './files.js';

export const TILES_JSON_VERSION = 1;

/** The tiles' side, in pixels as stored, when tile-detect's TILE_SIZE is not set. */
export const DEFAULT_TILE_SIZE = 448;

const int = z.number().int();
const count = int.nonnegative();

export const TileSchema = z.object({
  col: count,
  row: count,
  /** Top-left corner in level-0 pixels. */
  x: count,
  y: count,
  /** Share of the tile's overview pixels that are not background. */
  tissue_fraction: z.number().min(0).max(1),
});
export type Tile = z.infer<typeof TileSchema>;

/** Grid tiles per tissue-fraction bin (bin i: i/bins <= fraction < (i+1)/bins, 1 in the last), for QC. */
export const TissueHistogramSchema = z.object({ bins: int.positive(), counts: z.array(count) });
export type TissueHistogram = z.infer<typeof TissueHistogramSchema>;

export const TilesJsonSchema = z.object({
  version: z.literal(TILES_JSON_VERSION),
  slide: z.string(),
  source: z.object({
    /** The slide file's name inside the slide folder. */
    file: z.string(),
    reader: z.enum(['openslide', 'libvips']),
    vendor: z.string(),
    width: count,
    height: count,
    levels: z.array(z.object({ width: count, height: count, downsample: z.number().positive() })),
    mpp: z.object({ x: z.number(), y: z.number() }).nullable(),
    objective_power: z.number().nullable(),
  }),
  params: z.object({
    tile_size: int.positive(),
    downsample: z.number().positive(),
    background_threshold: int.min(0).max(255),
    max_background_fraction: z.number().min(0).max(1),
    max_tiles: int.positive().nullable(),
  }),
  /** The view the rule ran on. */
  overview: z.object({
    level: count,
    level_downsample: z.number().positive(),
    width: count,
    height: count,
  }),
  grid: z.object({ cols: count, rows: count }),
  counts: z.object({
    grid: count,
    kept: count,
    dropped: z.object({ background: count, max_tiles: count }),
  }),
  /** Why no tile was kept, when none was. */
  reason: z.string().optional(),
  /** Tiles of a physical size (TILE_UM / TARGET_MPP); absent in the default, level-0 px tiles. */
  physical: z
    .object({
      /** micrometres per level-0 pixel used: the slide's own, or the manifest's (MPP_COLUMN), which wins */
      mpp: z.number().positive(),
      mpp_source: z.enum(['slide', 'manifest']),
      /** with the manifest's: what the slide itself says (source.mpp), so a disagreement shows here */
      slide_mpp: z.object({ x: z.number(), y: z.number() }).nullable().optional(),
      tile_um: z.number().positive(),
      /** the tile's side in level-0 pixels (x, y and the grid are level-0 pixels, as without) */
      tile_px_level0: int.positive(),
      /** the tile's side as stored (TILE_SIZE) */
      output_px: int.positive(),
      /** the tissue rule's view */
      overview_downsample: z.number().positive(),
      /** tile-extract reads read_px x read_px of this level and resizes it to output_px */
      read_level: count,
      read_downsample: z.number().positive(),
      read_px: int.positive(),
    })
    .optional(),
  /** Tissue fractions of every grid tile, binned (absent in files of older tile-detects). */
  tissue_histogram: TissueHistogramSchema.optional(),
  tiles: z.array(TileSchema),
});
export type TilesJson = z.infer<typeof TilesJsonSchema>;

export function readTilesJson(path: string): TilesJson {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: not readable JSON: ${(err as Error).message}`);
  }
  const parsed = TilesJsonSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `${path}: not a ${TILES_JSON} this version reads: ${issue.path.join('.') || '(top)'}: ${issue.message}`,
    );
  }
  return parsed.data;
}

/** The file's text, checked against the schema first: never write a tiles.json the readers would refuse. */
export function tilesJsonText(tiles: TilesJson): string {
  TilesJsonSchema.parse(tiles);
  return JSON.stringify(tiles, null, 1) + '\n';
}
