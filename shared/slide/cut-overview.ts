/**
 * An overview read whole, handed out as strips of rows (for a reader whose resize is its own, libvips): the
 * geometry is known before the pixels, and the strips are views of the one image.
 */
import type { Overview, OverviewGeometry, OverviewStrip, OverviewStrips } from './types.js';

/** Rows per strip when an overview read whole is cut up. */
const CUT_ROWS = 256;

export function cutOverview(geometry: OverviewGeometry, overview: Promise<Overview>, path: string): OverviewStrips {
  // Claim the rejection so it surfaces where the strips are read, not as an unhandled one.
  overview.catch(() => {});
  async function* strips(): AsyncGenerator<OverviewStrip> {
    const o = await overview;
    const { width, height } = geometry;
    if (o.width !== width || o.height !== height) {
      throw new Error(`overview of ${path} is ${o.width}x${o.height}, expected ${width}x${height}`);
    }
    const rowBytes = o.width * 3;
    for (let y = 0; y < o.height; y += CUT_ROWS) {
      const rows = Math.min(CUT_ROWS, o.height - y);
      yield { y, rows, pieces: [{ x: 0, width: o.width, data: o.data.subarray(y * rowBytes, (y + rows) * rowBytes) }] };
    }
  }
  return { geometry, strips: { [Symbol.asyncIterator]: strips } };
}
