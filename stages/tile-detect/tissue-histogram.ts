/**
 * How much tissue the grid's tiles hold, as a histogram of their tissue fractions (every grid tile, kept or not):
 * the QC page draws it beside the kept/dropped overlay, so a reviewer sees where the keep threshold cuts.
 */
import type { TissueHistogram } from '../../shared/contract/tiles-json.js';

export const TISSUE_HISTOGRAM_BINS = 20;

/** Bin i counts the tiles with i/bins <= fraction < (i+1)/bins; a fraction of 1 goes to the last bin. */
export function tissueHistogram(tissueFraction: ArrayLike<number>, bins = TISSUE_HISTOGRAM_BINS): TissueHistogram {
  const counts = new Array<number>(bins).fill(0);
  for (let t = 0; t < tissueFraction.length; t++) counts[Math.min(bins - 1, Math.floor(tissueFraction[t] * bins))]++;
  return { bins, counts };
}
