/**
 * The frame every model stage shares: pass on an upstream error.json, open the model, run the work, and turn
 * "this model cannot run on these tiles" (card mismatch, wrong shapes) into the datum's error.json rather
 * than a crash, since retrying would fail the same way. Anything else is a crash (non-zero exit, retried).
 */
import type { Logger } from '../log.js';
import { passOnSlideError, writeSlideError } from '../slide-error.js';
import { describeShape, type ModelCard } from './card.js';
import { InferenceRunError } from './inference.js';
import { ModelMismatchError, openModel, type OpenedModel } from './model.js';
import { TileDecodeError } from './tile-batches.js';
import type { SessionSettings } from './providers.js';

/** A damaged tile upstream is the slide's error.json, not a crash: re-running this stage would fail the same way. */
export function reportTileDecodeError(outDir: string, slide: string, stage: string, err: TileDecodeError, log: Logger): void {
  writeSlideError(outDir, slide, {
    stage,
    what: 'a tile cannot be decoded',
    why: err.message,
    where: `${err.path} record ${err.index}`,
    hint: 're-run the upstream stage for this slide; its tiles.tfrecord holds a damaged image',
  });
  log.error('tile cannot be decoded', { why: err.message });
}

export interface ModelStageArgs {
  stage: string;
  task: ModelCard['task'];
  slide: string;
  inputDir: string;
  modelDir: string;
  outDir: string;
  settings: SessionSettings;
  log: Logger;
  work: (model: OpenedModel) => Promise<void>;
}

/** Returns what happened: 'done', 'passed-on' (upstream error), or 'error' (this stage wrote error.json). */
export async function runModelStage(a: ModelStageArgs): Promise<'done' | 'passed-on' | 'error'> {
  if (passOnSlideError(a.inputDir, a.outDir, a.slide, a.stage)) {
    a.log.info('passed on the slide error from upstream');
    return 'passed-on';
  }
  let model: OpenedModel;
  try {
    model = await openModel(a.modelDir, a.task, a.settings, a.log);
  } catch (err) {
    if (!(err instanceof ModelMismatchError)) throw err;
    writeSlideError(a.outDir, a.slide, {
      stage: a.stage,
      what: `the ${a.task} model does not match its card`,
      why: err.problems.join('; '),
      where: a.modelDir,
      hint: `fix /${a.task}/model.json in the models repo (input/output names, layout, size) or commit a model that matches it`,
    });
    a.log.error('model does not match its card', { why: err.message });
    return 'error';
  }
  try {
    await a.work(model);
    return 'done';
  } catch (err) {
    if (err instanceof TileDecodeError) {
      reportTileDecodeError(a.outDir, a.slide, a.stage, err, a.log);
      return 'error';
    }
    if (!(err instanceof InferenceRunError)) throw err;
    const modelInput = model.worker.inputs.find((i) => i.name === model.card.input.name);
    const modelShape = modelInput ? describeShape(modelInput.shape) : '?';
    writeSlideError(a.outDir, a.slide, {
      stage: a.stage,
      what: `the ${a.task} model cannot run on this slide's tiles`,
      why: `tiles gave input ${describeShape(err.inputDims)} (${model.card.input.layout}), the model's input '${model.card.input.name}' is ${modelShape} (card '${model.card.name}'): ${err.message.replace(/\s+/g, ' ').trim()}`,
      where: a.modelDir,
      hint: `check the card's input size and layout against the model, or the tile size upstream`,
    });
    a.log.error('model cannot run on the tiles', { why: err.message });
    return 'error';
  } finally {
    await model.worker.close();
  }
}
