/**
 * normalize (GPU): cross(tile_extract `/*`, models `/normalize`). One datum = one slide's tiles + the StainNet
 * model; writes `/<slide>/tiles.tfrecord` with the same keys. Wiring only; the work is in normalize.ts.
 */
import { join } from 'node:path';
import { envSwitch } from '../../shared/config.js';
import { TILES_TFRECORD } from '../../shared/contract/index.js';
import { sessionSettings } from '../../shared/onnx/config.js';
import { InferenceWorker, inferenceLogFields, sessionsOver } from '../../shared/onnx/inference.js';
import { defaultBatchSize } from '../../shared/onnx/providers.js';
import { openModelAhead, runModelStage } from '../../shared/onnx/stage.js';
import { aheadInputPath, inputPath, slideIdOf } from '../../shared/pfs.js';
import { type StageContext, stageMain, type StageOptions } from '../../shared/stage-main.js';
import { tilesRecordIn } from '../../shared/tile-record.js';
import { readNormalizeConfig } from './config.js';
import { normalizeTiles } from './normalize.js';
import { pixelwisePlan } from './pixelwise.js';

const STAGE = 'normalize';

/** A process started ahead opens the model the engine shows it while the stages above run. */
const ahead: StageOptions['ahead'] = async (log) => {
  const modelDir = aheadInputPath('models');
  if (!modelDir) return;
  const cfg = readNormalizeConfig();
  const pixels = { conversion: cfg.PIXEL_CONVERSION };
  await openModelAhead({ task: 'normalize', modelDir, settings: sessionSettings(cfg), log }, pixels);
};

// the inference thread and ONNX Runtime load while the process waits for its datum (a batch process started ahead)
InferenceWorker.prewarm();
async function normalizeSlide({ env, log: stageLog }: StageContext): Promise<void> {
  const cfg = readNormalizeConfig();
  const tilesDir = inputPath('tile_extract');
  const modelDir = inputPath('models');
  const slide = slideIdOf(tilesDir);
  const log = stageLog.child({ slide });
  await runModelStage({
    stage: STAGE,
    task: 'normalize',
    slide,
    inputDir: tilesDir,
    modelDir,
    outDir: env.outDir,
    settings: sessionSettings(cfg),
    pixels: async () => ({ conversion: cfg.PIXEL_CONVERSION }),
    log,
    work: async (model) => {
      const input = tilesRecordIn(tilesDir, 'tile-extract');
      const batchSize = cfg.BATCH_SIZE || defaultBatchSize('normalize', model.worker.provider);
      const encoding = { quality: cfg.JPEG_QUALITY, chroma: cfg.JPEG_CHROMA, pngLevel: cfg.PNG_COMPRESSION };
      // TESSELLA_COLOUR_TABLE=off runs every pixel through the model (the benchmark's comparison)
      const pixelwise = pixelwisePlan(model, envSwitch('TESSELLA_COLOUR_TABLE'));
      const options = { batchSize, format: cfg.TILE_FORMAT, encoding, pixelwise };
      const { result, ...inference } = await sessionsOver(model.worker, () =>
        normalizeTiles(input, join(env.outDir, slide, TILES_TFRECORD), model, options, log),
      );
      const { tiles, coloursRun } = result;
      log.info('normalized', {
        tiles,
        batch_size: batchSize,
        provider: model.worker.provider,
        rows_per_run: pixelwise?.rowsPerRun ?? 'whole tiles',
        // the colours this slide added to the table, each run once; its other pixels were answered from it
        colours_run: coloursRun ?? 'every pixel',
        // through the table a session runs only the new colours: its tiles/s is not the model's over whole tiles
        ...inferenceLogFields(inference),
      });
    },
  });
}

stageMain(STAGE, normalizeSlide, { ahead });
