/** RGB tiles cut from CMU-1's small region (../shared/fixtures), for codec and model tests. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { sharedDir } from './dirs.js';

const FIXTURE = join(sharedDir, 'fixtures/slides/cmu-1-small-region.pyramid.tiff');

/** node:test's `skip` for tests that cut CMU-1 tiles: the reason when ../shared is not beside the checkout. */
export const cmuTilesMissing: string | false = existsSync(FIXTURE)
  ? false
  : `needs ${FIXTURE} (../shared is provided beside the checkout)`;

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
