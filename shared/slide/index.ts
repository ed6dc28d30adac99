/**
 * Whole-slide images, the only import path for stages, the engine and scripts: open a slide (OpenSlide or
 * libvips, whichever can) and read it through the one `Slide` interface; the level policy; tiles.json.
 */
export * from './types.js';
export { openSlide, type OpenOptions } from './open.js';
export { openSlideOrReport } from './open-or-report.js';
export { chooseLevel, levelFor, type LevelRead } from './levels.js';
/** What the overview reads, block by block (the benchmark reads the same blocks alone). */
export { planOverview } from './overview.js';
/** The OpenSlide C library itself (the benchmark's raw-read baseline). */
export { loadOpenSlide } from './openslide-lib.js';
export { readTilesJson, TILES_JSON, TILES_JSON_VERSION, type Tile, type TilesJson } from './tiles-json.js';
