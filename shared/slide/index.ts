/**
 * Whole-slide images, the only import path for stages, the engine and scripts: open a slide (OpenSlide or
 * libvips, whichever can) and read it through the one `Slide` interface; the level policy. (tiles.json belongs to
 * the stage contract, shared/contract.)
 */
export * from './types.js';
export { openSlide, type OpenOptions } from './open.js';
export { openSlideOrReport } from './open-or-report.js';
export { chooseLevel, levelFor, type LevelRead } from './levels.js';
/** What the overview reads, block by block (the benchmark reads the same blocks alone). */
export { planOverview } from './overview.js';
/** The OpenSlide C library itself (the benchmark's raw-read baseline). */
export { loadOpenSlide } from './openslide-lib.js';
