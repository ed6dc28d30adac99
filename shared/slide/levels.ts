/** Pyramid level arithmetic, and the one policy for which level a read at some scale comes from. */
import type { OverviewGeometry, SlideLevel } from './types.js';

/**
 * Relative slack when comparing a level's downsample to a target: scanners write 16.0012 or 16.06 for a
 * nominal 16x level, and that level must still count as "<= 16".
 */
export const LEVEL_TOLERANCE = 0.01;

/** The level with the largest downsample <= target (within tolerance); level 0 when none is small enough. */
export function chooseLevel(
  levels: readonly Pick<SlideLevel, 'downsample'>[],
  target: number,
  tolerance = LEVEL_TOLERANCE,
): number {
  let best = 0;
  for (let i = 0; i < levels.length; i++) {
    const d = levels[i].downsample;
    if (d <= target * (1 + tolerance) && d >= levels[best].downsample) best = i;
  }
  return best;
}

/** Where pixels at a wanted downsample come from: a level, and what is left to resize. */
export interface LevelRead {
  /** The level to read (chooseLevel's). */
  level: number;
  /** That level's downsample, as the reader reports it. */
  levelDownsample: number;
  /** The level is within tolerance of the target, so it is used as it is, never resized. */
  asIs: boolean;
  /** Level pixels per wanted pixel still to resize by: target / levelDownsample, or exactly 1 when asIs. */
  residual: number;
}

/**
 * The level policy every reader and caller shares: read the level with the largest downsample <= target
 * (the finest detail needed, no more) and resize the rest of the way; a level within tolerance of the target is
 * used as it is, since resizing it would move pixels by under 1%. A physical target (micrometres per pixel) is
 * the downsample wantedMpp / slide.mpp.
 */
export function levelFor(
  levels: readonly Pick<SlideLevel, 'downsample'>[],
  target: number,
  tolerance = LEVEL_TOLERANCE,
): LevelRead {
  const level = chooseLevel(levels, target, tolerance);
  const levelDownsample = levels[level].downsample;
  const asIs = Math.abs(levelDownsample / target - 1) <= tolerance;
  return { level, levelDownsample, asIs, residual: asIs ? 1 : target / levelDownsample };
}

/** The size of the overview at `downsample`: level-0 size divided and rounded, at least 1 px. */
export function overviewSize(width: number, height: number, downsample: number): { width: number; height: number } {
  return { width: Math.max(1, Math.round(width / downsample)), height: Math.max(1, Math.round(height / downsample)) };
}

/**
 * The overview at `downsample` without its pixels, as every reader makes it: from levelFor's level, that
 * level's own size when it is used as it is, else the level-0 size divided (the grid maps pixels through the
 * actual scale either way).
 */
export function overviewGeometry(
  levels: readonly SlideLevel[],
  downsample: number,
): { geometry: OverviewGeometry; asIs: boolean } {
  const level0 = levels[0];
  const { level, levelDownsample, asIs } = levelFor(levels, downsample);
  const size = asIs ? levels[level] : overviewSize(level0.width, level0.height, downsample);
  const geometry: OverviewGeometry = {
    width: size.width,
    height: size.height,
    downsample,
    scaleX: level0.width / size.width,
    scaleY: level0.height / size.height,
    level,
    levelDownsample,
  };
  return { geometry, asIs };
}
