/**
 * One slide's histogram: pass on an upstream error.json, else stream its normalized tiles into
 * `/<slide>/histogram.safetensors`. A damaged tile upstream becomes the slide's error.json.
 */
import { join } from 'node:path';
import { HISTOGRAM_FILE } from '../../shared/contract/index.js';
import type { Logger } from '../../shared/log.js';
import { passOnSlideError } from '../../shared/slide-error.js';
import { countTiles, tilesRecordIn } from '../../shared/tile-record.js';
import { reportTileDecodeError, TileDecodeError } from '../../shared/tiles/index.js';
import type { HistogramConfig } from './config.js';
import { slideHistogram, writeHistogram } from './histogram.js';

export const STAGE = 'histogram';

export interface HistogramSlideInput {
  tilesDir: string;
  outDir: string;
  slideId: string;
  config: HistogramConfig;
  log: Logger;
}

export async function histogramSlide({ tilesDir, outDir, slideId, config, log }: HistogramSlideInput): Promise<void> {
  if (passOnSlideError(tilesDir, outDir, slideId, STAGE)) {
    log.info('passed on the slide error from upstream');
    return;
  }
  const input = tilesRecordIn(tilesDir, 'normalize');
  const progress = log.progress('histogram', countTiles(input), 'tiles');
  let h;
  try {
    h = await slideHistogram(input, config.DECODE_CONCURRENCY, (n) => progress.tick(n));
  } catch (err) {
    if (!(err instanceof TileDecodeError)) throw err;
    reportTileDecodeError(outDir, slideId, STAGE, err, log);
    return;
  }
  progress.finish();
  writeHistogram(join(outDir, slideId, HISTOGRAM_FILE), h, slideId);
  log.info('histogram written', { tiles: h.count });
}
