/**
 * histogram (CPU): `normalize` `/*`. One datum = one slide's normalized tiles; writes
 * `/<slide>/histogram.safetensors`. Wiring only; the work is in histogram-slide.ts.
 */
import { inputPath, slideIdOf } from '../../shared/pfs.js';
import { stageMain } from '../../shared/stage-main.js';
import { readHistogramConfig } from './config.js';
import { histogramSlide, STAGE } from './histogram-slide.js';

stageMain(STAGE, async ({ env, log }) => {
  const config = readHistogramConfig();
  const tilesDir = inputPath('normalize');
  const slideId = slideIdOf(tilesDir);
  await histogramSlide({ tilesDir, outDir: env.outDir, slideId, config, log: log.child({ slide: slideId }) });
});
