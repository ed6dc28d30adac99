/**
 * tile-detect: container entry, one datum = one slide folder (`slides` `/(*)`), outer-joined with manifest-mpp's
 * `/mpp/(*).json` when the manifest gives the slide's resolution. The work is in detect-slide.ts.
 */
import { readMppOverride } from '../../shared/contract/index.js';
import { inputPath, optionalInputPath, slideIdOf } from '../../shared/pfs.js';
import { stageMain } from '../../shared/stage-main.js';
import { readDetectConfig } from './config.js';
import { detectSlide, STAGE } from './detect-slide.js';

stageMain(STAGE, async ({ env, log }) => {
  const config = readDetectConfig();
  const slideDir = inputPath('slides');
  const slideId = slideIdOf(slideDir);
  const mppFile = optionalInputPath('mpp');
  const mppOverride = mppFile ? readMppOverride(mppFile) : undefined;
  await detectSlide({ slideDir, outDir: env.outDir, slideId, config, mppOverride, log: log.child({ slide: slideId }) });
});
