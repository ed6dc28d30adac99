/**
 * The frame every model stage shares: pass on an upstream error.json, open the model, run the work.
 *
 * Two kinds of fault, kept apart: a slide's (a damaged tile upstream) becomes that slide's error.json, so the
 * rest of the cohort goes on; the model's (a card that is invalid or does not fit its model, a model that cannot
 * run on tiles of the cohort's size) would fail every slide alike, so it fails the datum and the job, which holds
 * merge back and leaves the published dataset as it was, like a corrupt model.onnx does.
 */
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { repoPathOf } from '../pfs.js';
import { passOnSlideError } from '../slide-error.js';
import { reportTileDecodeError, TileDecodeError } from '../tiles/index.js';
import { describeShape, type ModelCard } from './card.js';
import { InferenceRunError } from './inference.js';
import { MODEL_CARD_FILE, MODEL_FILE } from '../contract/files.js';
import {
  ModelFileError,
  ModelMismatchError,
  openModel,
  sha256File,
  type OpenedModel,
  type PixelOptions,
} from './model.js';
import { servesManyDatums } from '../next-datum.js';
import type { SessionSettings } from './providers.js';

/** The model cannot serve this cohort: the message says which model, what in its card, and both shapes. */
export class ModelFault extends Error {
  /** The stage frame logs it with the crash: a fault that fails every datum alike (read by the engine). */
  readonly kind = 'model';
  constructor(message: string) {
    super(message);
    this.name = 'ModelFault';
  }
}

export interface ModelStageArgs {
  stage: string;
  task: ModelCard['task'];
  slide: string;
  inputDir: string;
  modelDir: string;
  outDir: string;
  settings: SessionSettings;
  /** How tiles go to the model (asked once the slide is known to have tiles); default: converted in JavaScript. */
  pixels?: () => Promise<PixelOptions>;
  log: Logger;
  work: (model: OpenedModel) => Promise<void>;
}

/**
 * Returns what happened: 'done', 'passed-on' (upstream error), or 'error' (this stage wrote the slide's error.json).
 * Throws ModelFault when the model, not the slide, is at fault.
 */
export async function runModelStage(a: ModelStageArgs): Promise<'done' | 'passed-on' | 'error'> {
  if (passOnSlideError(a.inputDir, a.outDir, a.slide, a.stage)) {
    a.log.info('passed on the slide error from upstream');
    return 'passed-on';
  }
  // under datum batching the process serves the next slide too: the session stays open for it
  const keep = servesManyDatums();
  let model: OpenedModel;
  try {
    const pixels = await a.pixels?.();
    model = keep ? await keptModel(a, pixels) : await openModel(a.modelDir, a.task, a.settings, a.log, pixels);
  } catch (err) {
    if (err instanceof ModelFileError) throw new ModelFault(err.message);
    if (!(err instanceof ModelMismatchError)) throw err;
    throw new ModelFault(
      `the ${a.task} model does not match its card (${repoPathOf(join(a.modelDir, MODEL_CARD_FILE))}): ${err.problems.join('; ')}. ` +
        `Fix /${a.task}/model.json in the models repo (input/output names, layout, size) or commit a model that matches it.`,
    );
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
    throw new ModelFault(
      `the ${a.task} model cannot run on the cohort's tiles (${repoPathOf(join(a.modelDir, MODEL_FILE))}): tiles gave input ` +
        `${describeShape(err.inputDims)} (${model.card.input.layout}), the model's input '${model.card.input.name}' is ` +
        `${modelShape} (card '${model.card.name}', size ${model.card.input.size}): ${err.message.replace(/\s+/g, ' ').trim()}. ` +
        `Check the card's input size and layout against the model, or the tile size upstream.`,
    );
  } finally {
    if (!keep) await model.worker.close();
  }
}

/**
 * The model kept open from the last datum of this process (or opened ahead of its first: openModelAhead), with what
 * it was opened from.
 */
let kept: { key: string; model: OpenedModel; ahead: boolean } | undefined;

type KeptArgs = Pick<ModelStageArgs, 'task' | 'modelDir' | 'settings' | 'log'>;

/**
 * The model for this datum, reusing the last datum's session when the model's and card's bytes, the settings and
 * the pixel options are the same (the usual case: one job's datums share one model commit).
 */
async function keptModel(a: KeptArgs, pixels: PixelOptions | undefined, ahead = false): Promise<OpenedModel> {
  const cardHash = () => sha256File(join(a.modelDir, MODEL_CARD_FILE)).catch(() => 'missing');
  const keyOf = (modelHash: string, card: string) =>
    JSON.stringify([a.task, modelHash, card, a.settings, pixels ?? null]);
  if (kept) {
    const [modelHash, card] = await Promise.all([
      sha256File(join(a.modelDir, MODEL_FILE)).catch(() => 'missing'),
      cardHash(),
    ]);
    const named = { model: kept.model.card.name, sha256: modelHash.slice(0, 12) };
    if (kept.key === keyOf(modelHash, card)) {
      a.log.info(kept.ahead ? 'model opened ahead of the datum' : 'model kept open from the last datum', named);
      kept.ahead = false;
      return { ...kept.model, dir: a.modelDir };
    }
    if (kept.ahead)
      a.log.info("the model opened ahead is not this datum's (model, card, settings or tile size): opening it", named);
    const last = kept;
    kept = undefined;
    await last.model.worker.close();
  }
  // the process's first model: its hash comes with the open (beside the session's start), not before it
  const [model, card] = await Promise.all([openModel(a.modelDir, a.task, a.settings, a.log, pixels), cardHash()]);
  kept = { key: keyOf(model.sha256, card), model, ahead };
  return model;
}

/**
 * Opens the model a batching process is shown before its first datum (pfs.ts aheadInputPath), as that datum would
 * open it: when the datum's model and card bytes, settings and pixel options are the same, the datum finds the
 * session open (the session's start, ~0.2-0.4 s, then runs while the pipelines above still run). `pixels`: the
 * options the first datum will most likely ask for. Throws what opening throws (the datum then opens it itself).
 */
export async function openModelAhead(a: KeptArgs, pixels?: PixelOptions): Promise<OpenedModel> {
  // its 'model loaded' says so: it ran beside the stages above, at the lower priority of a process waiting for its job
  return keptModel({ ...a, log: a.log.child({ ahead: true }) }, pixels, true);
}
