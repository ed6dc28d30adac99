/**
 * A model folder from the models repo (`model.onnx` + `model.json`) opened for a stage: card read and
 * validated, session started in the worker with provider fallback, card checked against the session,
 * model hashed for provenance.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MODEL_CARD_FILE, MODEL_FILE } from '../contract/files.js';
import type { Logger } from '../log.js';
import { repoPathOf } from '../pfs.js';
import { cardMismatches, ModelCardError, poolingPlan, readModelCard, type ModelCard } from './card.js';
import { InferenceWorker } from './inference.js';
import { onnxModelProblem } from './onnx-proto.js';
import {
  canSum,
  PIXELS_INPUT,
  PIXELS_OUTPUT,
  POOLED_OUTPUT,
  type PixelIoRequest,
  type PoolRequest,
} from './pixel-io.js';
import { expectedProvider, halfPrecisionOf, type SessionSettings } from './providers.js';

/**
 * How a stage hands tiles to the model. 'onnx': as uint8 pixels, the card's arithmetic run as ONNX nodes
 * (pixel-io.ts) when the model can be wrapped; 'js': as floats filled on the main thread (tensor.ts).
 * `tileSide`: the input tiles' side, which fixes embed's k x k mean (448 px tiles, a 224 model: k = 2).
 */
export interface PixelOptions {
  conversion: 'onnx' | 'js';
  tileSide?: number;
}

/**
 * The wrapped session's tensors: uint8 NHWC pixels of side k x the card's size (embed; normalize: any) in, or with
 * `sums` their k x k block sums (tensor.ts sumsBatch); out, with `pooled`, the tiles' vectors in that order, joined
 * ([N, vectors x C]: pixel-io.ts PoolRequest), not the model's map.
 */
export interface PixelIo {
  k: number;
  sums: boolean;
  input: string;
  output: string;
  pooled?: PoolRequest['vectors'];
}

export interface OpenedModel {
  dir: string;
  card: ModelCard;
  sha256: string;
  worker: InferenceWorker;
  /** set when the session takes pixels */
  pixelIo?: PixelIo;
  /** What the model computes in: its input's type (float32, float16), or float16 when the fp16 setting applied. */
  precision: string;
}

/**
 * What to ask the worker to wrap, or why nothing. A feature model on CPU takes block sums where they are exact
 * (pixel-io.ts `sums`): there ONNX Runtime's threads are what the stage waits on; a GPU does the mean for nothing,
 * and the stage's thread is then what feeds it.
 */
function pixelRequest(
  card: ModelCard,
  task: ModelCard['task'],
  o: PixelOptions,
  settings: SessionSettings,
): PixelIoRequest | string {
  if (o.conversion === 'js') return 'PIXEL_CONVERSION is js';
  if (task === 'normalize') return { input: card.input, output: card.output, k: 1 };
  if (o.tileSide === undefined) return 'the slide has no tiles';
  if (o.tileSide % card.input.size)
    return `tiles of ${o.tileSide} px are not a whole multiple of the model's ${card.input.size} px`;
  const k = o.tileSide / card.input.size;
  return {
    input: card.input,
    k,
    sums: canSum(k) && expectedProvider(settings.providers) === 'cpu',
    pool: poolRequest(card),
  };
}

/**
 * A map's mean and max, pooled in the session (pixel-io.ts PoolRequest): on a CPU the stage's thread no longer walks
 * each tile's map (~0.2 ms a B0 tile), on a GPU the map (250 KB a B0 tile) stays on the device. Tokens (NLC) and
 * class tokens are pooled by the stage.
 */
function poolRequest(card: ModelCard): PoolRequest | undefined {
  const { layout } = card.output;
  const vectors = poolingPlan(card).vectors;
  if ((layout !== 'NCHW' && layout !== 'NHWC') || !vectors.every((v) => v === 'avg' || v === 'max')) return undefined;
  return { output: card.output.name, layout, vectors: vectors as PoolRequest['vectors'] };
}

/** The card does not match the model (or the folder is incomplete): the datum's error, not a crash. */
export class ModelMismatchError extends Error {
  constructor(
    message: string,
    readonly problems: string[],
  ) {
    super(message);
    this.name = 'ModelMismatchError';
  }
}

/** model.onnx is missing or is not a whole ONNX model: every datum would fail alike, whatever its card says. */
export class ModelFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelFileError';
  }
}

/** `<path> (<size> bytes) is not a complete ONNX model (<why>)`, naming the file as the models repo has it. */
function incompleteModel(modelPath: string, why: string): ModelFileError {
  const name = repoPathOf(modelPath);
  return new ModelFileError(
    `${name} (${statSync(modelPath).size} bytes) is not a complete ONNX model: ${why}. ` +
      `Commit the whole file again to the models repo (a copy cut short or overwritten reads like this).`,
  );
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

export async function openModel(
  dir: string,
  task: ModelCard['task'],
  settings: SessionSettings,
  log?: Logger,
  pixels: PixelOptions = { conversion: 'js' },
): Promise<OpenedModel> {
  const modelPath = join(dir, MODEL_FILE);
  const cardPath = join(dir, MODEL_CARD_FILE);
  // messages name the files as the models repo has them (models@<commit>:/embed/model.json), not the scratch folder
  const cardName = repoPathOf(cardPath);
  for (const p of [modelPath, cardPath]) {
    if (!existsSync(p)) {
      throw new ModelMismatchError(
        `${repoPathOf(p)} is missing: the models repo needs /${task}/${MODEL_FILE} and /${task}/${MODEL_CARD_FILE}`,
        [`${repoPathOf(p)} missing`],
      );
    }
  }
  let card: ModelCard;
  try {
    card = readModelCard(cardPath);
  } catch (err) {
    if (!(err instanceof ModelCardError)) throw err;
    const message = err.message.split(cardPath).join(cardName);
    throw new ModelMismatchError(message, [message]);
  }
  if (card.task !== task) {
    throw new ModelMismatchError(
      `${cardName}: the card is for task '${card.task}' but it is in the models repo's /${task}/ folder`,
      ['task'],
    );
  }
  const incomplete = onnxModelProblem(modelPath);
  if (incomplete) throw incompleteModel(modelPath, incomplete);
  const request = pixelRequest(card, task, pixels, settings);
  const openStart = performance.now();
  const [sha256, worker] = await Promise.all([
    sha256File(modelPath),
    InferenceWorker.start(modelPath, settings, typeof request === 'string' ? undefined : request).catch((err) => {
      // bytes damaged inside the graph pass the outer check; ONNX Runtime's parser finds them
      if (/Protobuf parsing failed/i.test((err as Error).message))
        throw incompleteModel(modelPath, 'ONNX Runtime cannot parse it');
      throw err;
    }),
  ]);
  for (const a of worker.attempts) {
    if (a.error) log?.warn('execution provider unavailable, falling back', { provider: a.provider, why: a.error });
  }
  const wrapped = typeof request !== 'string' && worker.pixelIo?.used;
  log?.info('model loaded', {
    model: card.name,
    provider: worker.provider,
    sha256: sha256.slice(0, 12),
    pixels: wrapped ? 'onnx' : 'js',
    ...(task === 'embed' && { pooling: worker.pixelIo?.pooled?.used ? 'session' : 'js' }),
    open_s: Math.round(performance.now() - openStart) / 1000,
  });
  if (worker.sessionsAsked > 1)
    void worker
      .allOpen()
      .then((why) =>
        why
          ? log?.warn('the sessions beside the first did not open; it serves alone', { why })
          : log?.info('sessions side by side', { sessions: worker.sessions, from: worker.othersFrom }),
      );
  const unwrapped = typeof request === 'string' ? request : worker.pixelIo?.reason;
  const poolAsked = wrapped && typeof request !== 'string' ? request.pool : undefined;
  const pooled = poolAsked && worker.pixelIo?.pooled?.used ? poolAsked.vectors : undefined;
  if (poolAsked && !pooled) log?.info('vectors pooled in JavaScript', { why: worker.pixelIo?.pooled?.reason });
  if (pixels.conversion === 'onnx' && !wrapped) log?.info('pixels converted in JavaScript', { why: unwrapped });
  const problems = cardMismatches(card, worker.inputs, worker.outputs);
  if (problems.length) {
    await worker.close();
    throw new ModelMismatchError(
      `${repoPathOf(modelPath)} does not match its card ${cardName}:\n  ${problems.join('\n  ')}`,
      problems,
    );
  }
  const pixelIo =
    wrapped && typeof request !== 'string'
      ? {
          k: request.k,
          sums: request.sums === true,
          input: PIXELS_INPUT,
          output: task === 'normalize' ? PIXELS_OUTPUT : pooled ? POOLED_OUTPUT : card.output.name,
          ...(pooled && { pooled }),
        }
      : undefined;
  const declared = worker.inputs.find((i) => i.name === card.input.name)?.type ?? 'float32';
  let precision = declared;
  if (settings.fp16 && declared !== 'float16') {
    const half = halfPrecisionOf(worker.provider);
    if (half.applied) {
      precision = 'float16';
      log?.info('PRECISION=fp16', { provider: worker.provider, how: half.how });
    } else log?.warn('PRECISION=fp16 not applied, running float32', { provider: worker.provider, why: half.why });
  }
  return { dir, card, sha256, worker, pixelIo, precision };
}
