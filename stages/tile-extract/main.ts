/**
 * tile-extract: container entry, one datum = one slide joined with its tile-detect output
 * (join of `slides` `/(*)` and `tile_detect` `/(*)` on `$1`). The work is in extract-slide.ts.
 */
import { createLogger } from '../../shared/log.js';
import { inputPath, readStageEnv, slideIdOf } from '../../shared/pfs.js';
import { readExtractConfig } from './config.js';
import { extractSlide, STAGE } from './extract-slide.js';

async function main(): Promise<void> {
  const env = readStageEnv();
  const config = readExtractConfig();
  const slideDir = inputPath('slides');
  const detectDir = inputPath('tile_detect');
  const slideId = slideIdOf(detectDir);
  await extractSlide({ slideDir, detectDir, outDir: env.outDir, slideId, config, log: createLogger(STAGE, { slide: slideId }) });
}

main().catch((err: Error) => {
  createLogger(STAGE).error('failed', { error: err.message, stack: err.stack });
  process.exitCode = 1;
});
