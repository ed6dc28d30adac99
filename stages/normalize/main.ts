/**
 * normalize (GPU): cross(tile_extract `/*`, models `/normalize`). One datum = one slide's tiles + the StainNet
 * model; writes `/<slide>/tiles.tfrecord` with the same keys. Wiring only; the work is in normalize.ts.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { envEnum, envInt, parseEnv } from '../../shared/config.js';
import { createLogger } from '../../shared/log.js';
import { modelEnvFields, sessionSettings } from '../../shared/onnx/config.js';
import { runModelStage } from '../../shared/onnx/stage.js';
import { defaultBatchSize } from '../../shared/onnx/providers.js';
import { inputPath, readStageEnv, slideIdOf } from '../../shared/pfs.js';
import { TILES_TFRECORD } from '../../shared/contract/index.js';
import { tilesRecordIn } from '../../shared/tile-record.js';
import { normalizeTiles } from './normalize.js';

const STAGE = 'normalize';

const ConfigSchema = z.object({
  ...modelEnvFields,
  /** same: keep each tile's format; jpeg or png: re-encode all tiles so. */
  TILE_FORMAT: envEnum(['same', 'jpeg', 'png'] as const).default('same'),
  JPEG_QUALITY: envInt({ min: 1, max: 100 }).default(95),
});

async function main(): Promise<void> {
  const env = readStageEnv();
  const cfg = parseEnv(ConfigSchema);
  const tilesDir = inputPath('tile_extract');
  const modelDir = inputPath('models');
  const slide = slideIdOf(tilesDir);
  const log = createLogger(STAGE, { slide });
  await runModelStage({
    stage: STAGE,
    task: 'normalize',
    slide,
    inputDir: tilesDir,
    modelDir,
    outDir: env.outDir,
    settings: sessionSettings(cfg),
    log,
    work: async (model) => {
      const input = tilesRecordIn(tilesDir, 'tile-extract');
      const batchSize = cfg.BATCH_SIZE || defaultBatchSize('normalize', model.worker.provider);
      const { tiles } = await normalizeTiles(input, join(env.outDir, slide, TILES_TFRECORD), model, { batchSize, format: cfg.TILE_FORMAT, jpegQuality: cfg.JPEG_QUALITY }, log);
      log.info('normalized', { tiles, batch_size: batchSize, provider: model.worker.provider });
    },
  });
}

main().catch((err) => {
  createLogger(STAGE).error('failed', { error: (err as Error).stack ?? String(err) });
  process.exit(1);
});
