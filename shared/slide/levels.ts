/** Pyramid level arithmetic. */
import type { SlideLevel } from './types.js';

/**
 * Relative slack when comparing a level's downsample to a target: scanners write 16.0012 or 16.06 for a
 * nominal 16x level, and that level must still count as "<= 16".
 */
export const LEVEL_TOLERANCE = 0.01;

/** The level with the largest downsample <= target (within tolerance); level 0 when none is small enough. */
export function chooseLevel(levels: readonly Pick<SlideLevel, 'downsample'>[], target: number, tolerance = LEVEL_TOLERANCE): number {
  let best = 0;
  for (let i = 0; i < levels.length; i++) {
    const d = levels[i].downsample;
    if (d <= target * (1 + tolerance) && d >= levels[best].downsample) best = i;
  }
  return best;
}

/** The size of the overview at `downsample`: level-0 size divided and rounded, at least 1 px. */
export function overviewSize(width: number, height: number, downsample: number): { width: number; height: number } {
  return { width: Math.max(1, Math.round(width / downsample)), height: Math.max(1, Math.round(height / downsample)) };
}
