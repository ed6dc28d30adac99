/**
 * tile-extract: container entry, one datum = one slide joined with its tile-detect output
 * (join of `slides` `/(*)` and `tile_detect` `/(*)` on `$1`). The work is in extract-slide.ts.
 */
import { inputPath, slideIdOf } from '../../shared/pfs.js';
import { stageMain } from '../../shared/stage-main.js';
import { readExtractConfig } from './config.js';
import { extractSlide, STAGE } from './extract-slide.js';

stageMain(STAGE, async ({ env, log }) => {
  const config = readExtractConfig();
  const slideDir = inputPath('slides');
  const detectDir = inputPath('tile_detect');
  const slideId = slideIdOf(detectDir);
  await extractSlide({ slideDir, detectDir, outDir: env.outDir, slideId, config, log: log.child({ slide: slideId }) });
});
