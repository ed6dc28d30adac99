/** tiles.json made by hand (for slides tile-detect cannot tile, or merge's fixtures), valid against the one schema. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TILES_JSON, TILES_JSON_VERSION, tilesJsonText, type TilesJson } from '../../shared/contract/index.js';

export interface HandMadeTiles {
  /** The slide file's name in its folder. */
  file?: string;
  width?: number;
  height?: number;
  tileSize?: number;
  /** Kept tiles by grid cell; x and y follow from the tile size. */
  tiles?: { col: number; row: number }[];
  /** Counts as tile-detect reports them; by default the grid and the kept tiles, none dropped. */
  counts?: TilesJson['counts'];
  reason?: string;
}

export function handMadeTilesJson(slide: string, o: HandMadeTiles = {}): TilesJson {
  const { file = `${slide}.svs`, width = 448, height = 448, tileSize = 448, tiles = [] } = o;
  const grid = { cols: Math.floor(width / tileSize), rows: Math.floor(height / tileSize) };
  return {
    version: TILES_JSON_VERSION,
    slide,
    source: {
      file,
      reader: 'openslide',
      vendor: 'aperio',
      width,
      height,
      levels: [{ width, height, downsample: 1 }],
      mpp: null,
      objective_power: null,
    },
    params: {
      tile_size: tileSize,
      downsample: 1,
      background_threshold: 190,
      max_background_fraction: 0.1,
      max_tiles: null,
    },
    overview: { level: 0, level_downsample: 1, width, height },
    grid,
    counts: o.counts ?? { grid: grid.cols * grid.rows, kept: tiles.length, dropped: { background: 0, max_tiles: 0 } },
    ...(o.reason !== undefined ? { reason: o.reason } : {}),
    tiles: tiles.map((t) => ({ ...t, x: t.col * tileSize, y: t.row * tileSize, tissue_fraction: 1 })),
  };
}

/** Writes `<dir>/tiles.json` through the contract's own text builder (which checks it against the schema). */
export function writeHandMadeTilesJson(dir: string, tiles: TilesJson): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, TILES_JSON);
  writeFileSync(path, tilesJsonText(tiles));
  return path;
}
