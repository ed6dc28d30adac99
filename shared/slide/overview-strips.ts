/**
 * Any opened slide's overview as strips of rows, top to bottom (see overview.ts), giving the same pixels as
 * `slide.overview(downsample)`: OpenSlide slides and libvips levels used as they are are read region by region;
 * a libvips slide that needs a resize (no level within tolerance of the target) is resized by libvips as its
 * `overview` does and then cut into strips, since only libvips' own resize gives its pixels (that one path holds
 * the 1/downsample overview).
 */
import { LEVEL_TOLERANCE, chooseLevel } from './levels.js';
import { streamOverviewStrips, type OverviewGeometry, type OverviewStrip, type OverviewStrips, type RegionSource, type StreamOptions } from './overview.js';
import type { Overview, Slide } from './types.js';

export type { OverviewGeometry, OverviewPiece, OverviewStrip, OverviewStrips } from './overview.js';

/** Rows per strip when an overview read whole is cut up. */
const CUT_ROWS = 256;

export function overviewStrips(slide: Slide, downsample: number, options: StreamOptions = {}): OverviewStrips {
  const src = slide as Slide & Partial<Pick<RegionSource, 'tileSize'>>;
  if (slide.reader === 'openslide') return streamOverviewStrips(src, downsample, options);
  const level = slide.levels[chooseLevel(slide.levels, downsample)];
  if (Math.abs(level.downsample / downsample - 1) <= LEVEL_TOLERANCE) return streamOverviewStrips(src, downsample, options);
  return cutOverview(slide.overview(downsample), slide, downsample);
}

/** An overview read whole, as strips; the geometry is known before the pixels (as libvips' overview sizes it). */
function cutOverview(overview: Promise<Overview>, slide: Slide, downsample: number): OverviewStrips {
  const level0 = slide.levels[0];
  const index = chooseLevel(slide.levels, downsample);
  const width = Math.max(1, Math.round(level0.width / downsample));
  const height = Math.max(1, Math.round(level0.height / downsample));
  const geometry: OverviewGeometry = {
    width,
    height,
    downsample,
    scaleX: level0.width / width,
    scaleY: level0.height / height,
    level: index,
    levelDownsample: slide.levels[index].downsample,
  };
  // Claim the rejection so it surfaces where the strips are read, not as an unhandled one.
  overview.catch(() => {});
  async function* strips(): AsyncGenerator<OverviewStrip> {
    const o = await overview;
    if (o.width !== width || o.height !== height) throw new Error(`overview of ${slide.path} is ${o.width}x${o.height}, expected ${width}x${height}`);
    const rowBytes = o.width * 3;
    for (let y = 0; y < o.height; y += CUT_ROWS) {
      const rows = Math.min(CUT_ROWS, o.height - y);
      yield { y, rows, pieces: [{ x: 0, width: o.width, data: o.data.subarray(y * rowBytes, (y + rows) * rowBytes) }] };
    }
  }
  return { geometry, strips: { [Symbol.asyncIterator]: strips } };
}
