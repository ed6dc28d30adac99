/**
 * histogram (CPU): `normalize` `/*`. One datum = one slide's normalized tiles; writes
 * `/<slide>/histogram.safetensors`. Wiring only; the work is in histogram.ts.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { envInt, parseEnv } from '../../shared/config.js';
import { HISTOGRAM_FILE } from '../../shared/contract/index.js';
import { createLogger } from '../../shared/log.js';
import { inputPath, readStageEnv, slideIdOf } from '../../shared/pfs.js';
import { tilesRecordIn } from '../../shared/tile-record.js';
import { reportTileDecodeError, TileDecodeError } from '../../shared/tiles/index.js';
import { passOnSlideError } from '../../shared/slide-error.js';
import { slideHistogram, writeHistogram } from './histogram.js';

const STAGE = 'histogram';
const ConfigSchema = z.object({
  /** Tiles decoded at once. */
  DECODE_CONCURRENCY: envInt({ min: 1, max: 64 }).default(8),
});

async function main(): Promise<void> {
  const env = readStageEnv();
  const cfg = parseEnv(ConfigSchema);
  const tilesDir = inputPath('normalize');
  const slide = slideIdOf(tilesDir);
  const log = createLogger(STAGE, { slide });
  if (passOnSlideError(tilesDir, env.outDir, slide, STAGE)) {
    log.info('passed on the slide error from upstream');
    return;
  }
  const input = tilesRecordIn(tilesDir, 'normalize');
  const progress = log.progress('histogram', undefined, 'tiles');
  let h;
  try {
    h = await slideHistogram(input, cfg.DECODE_CONCURRENCY, (n) => progress.tick(n));
  } catch (err) {
    if (!(err instanceof TileDecodeError)) throw err;
    reportTileDecodeError(env.outDir, slide, STAGE, err, log);
    return;
  }
  progress.finish();
  writeHistogram(join(env.outDir, slide, HISTOGRAM_FILE), h, slide);
  log.info('histogram written', { tiles: h.count });
}

main().catch((err) => {
  createLogger(STAGE).error('failed', { error: (err as Error).stack ?? String(err) });
  process.exit(1);
});
