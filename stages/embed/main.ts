/**
 * embed (GPU): cross(normalize `/*`, models `/embed`). One datum = one slide's normalized tiles + the feature
 * extractor; writes `/<slide>/embeddings.safetensors`. Wiring only; the work is in embed.ts.
 */
import { join } from 'node:path';
import { DEFAULT_TILE_SIZE, EMBEDDINGS_FILE } from '../../shared/contract/index.js';
import { InferenceWorker, inferenceLogFields, sessionsOver } from '../../shared/onnx/inference.js';
import { defaultBatchSize } from '../../shared/onnx/providers.js';
import { openModelAhead, runModelStage } from '../../shared/onnx/stage.js';
import { aheadInputPath, inputPath, slideIdOf } from '../../shared/pfs.js';
import { type StageContext, stageMain, type StageOptions } from '../../shared/stage-main.js';
import { tilesRecordIn } from '../../shared/tile-record.js';
import { firstTileSide } from '../../shared/tiles/index.js';
import { embedSessionSettings, readEmbedConfig } from './config.js';
import { embedTiles, warmUp, writeEmbeddings } from './embed.js';

const STAGE = 'embed';

/**
 * A process started ahead opens the model the engine shows it while the stages above run, for tiles of the default
 * size, and starts one batch through it.
 */
const ahead: StageOptions['ahead'] = async (log) => {
  const modelDir = aheadInputPath('models');
  if (!modelDir) return;
  const cfg = readEmbedConfig();
  const pixels = { conversion: cfg.PIXEL_CONVERSION, tileSide: DEFAULT_TILE_SIZE };
  const model = await openModelAhead({ task: 'embed', modelDir, settings: embedSessionSettings(cfg), log }, pixels);
  // the session's first batch (its memory paged in) too: the first datum's loop took 0.79-0.87 s for 104 tiles
  // after it, 0.94-1.14 s without (three alternated runs each). Not awaited: a datum that comes meanwhile queues its
  // batch behind this one
  void warmUp(model, cfg.BATCH_SIZE || defaultBatchSize('embed', model.worker.provider), DEFAULT_TILE_SIZE).catch(
    (err: unknown) =>
      log.warn('the warm-up batch failed; the datum runs without it', { error: (err as Error).message }),
  );
};

// the inference thread and ONNX Runtime load while the process waits for its datum (a batch process started ahead)
InferenceWorker.prewarm();
async function embedSlide({ env, log: stageLog }: StageContext): Promise<void> {
  const cfg = readEmbedConfig();
  const tilesDir = inputPath('normalize');
  const modelDir = inputPath('models');
  const slide = slideIdOf(tilesDir);
  const log = stageLog.child({ slide });
  await runModelStage({
    stage: STAGE,
    task: 'embed',
    slide,
    inputDir: tilesDir,
    modelDir,
    outDir: env.outDir,
    settings: embedSessionSettings(cfg),
    pixels: async () => ({
      conversion: cfg.PIXEL_CONVERSION,
      tileSide: await firstTileSide(tilesRecordIn(tilesDir, 'normalize')),
    }),
    log,
    work: async (model) => {
      const input = tilesRecordIn(tilesDir, 'normalize');
      const batchSize = cfg.BATCH_SIZE || defaultBatchSize('embed', model.worker.provider);
      const { result: e, ...inference } = await sessionsOver(model.worker, () =>
        embedTiles(input, model, batchSize, log),
      );
      writeEmbeddings(join(env.outDir, slide, EMBEDDINGS_FILE), e, model, slide);
      log.info('embedded', {
        tiles: e.n,
        dim: e.dim,
        batch_size: batchSize,
        provider: model.worker.provider,
        sessions: model.worker.sessions,
        resize: e.resize,
        ...inferenceLogFields(inference),
      });
    },
  });
}

stageMain(STAGE, embedSlide, { ahead });
