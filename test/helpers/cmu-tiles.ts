/** RGB tiles cut from CMU-1's small region (../shared/fixtures), for codec and model tests. */
import { resolve } from 'node:path';
import sharp from 'sharp';

const FIXTURE = resolve(import.meta.dirname, '../../../shared/fixtures/slides/cmu-1-small-region.pyramid.tiff');

/** One side x side RGB tile per [left, top] of level 0. */
export async function cmuTiles(at: [number, number][], side = 448): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const [left, top] of at)
    out.push(
      await sharp(FIXTURE, { limitInputPixels: false })
        .extract({ left, top, width: side, height: side })
        .removeAlpha()
        .raw()
        .toBuffer(),
    );
  return out;
}
