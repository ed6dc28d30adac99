/**
 * tile-detect: container entry, one datum = one slide folder (`slides` glob `/*`). The work is in detect-slide.ts.
 */
import { inputPath, slideIdOf } from '../../shared/pfs.js';
import { stageMain } from '../../shared/stage-main.js';
import { readDetectConfig } from './config.js';
import { detectSlide, STAGE } from './detect-slide.js';

stageMain(STAGE, async ({ env, log }) => {
  const config = readDetectConfig();
  const slideDir = inputPath('slides');
  const slideId = slideIdOf(slideDir);
  await detectSlide({ slideDir, outDir: env.outDir, slideId, config, log: log.child({ slide: slideId }) });
});
