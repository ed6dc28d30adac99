/**
 * A model folder from the models repo (`model.onnx` + `model.json`) opened for a stage: card read and
 * validated, session started in the worker with provider fallback, card checked against the session,
 * model hashed for provenance.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { MODEL_CARD_FILE, MODEL_FILE } from '../contract/files.js';
import type { Logger } from '../log.js';
import { cardMismatches, ModelCardError, readModelCard, type ModelCard } from './card.js';
import { InferenceWorker } from './inference.js';
import type { SessionSettings } from './providers.js';

export interface OpenedModel {
  dir: string;
  card: ModelCard;
  sha256: string;
  worker: InferenceWorker;
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
): Promise<OpenedModel> {
  const modelPath = join(dir, MODEL_FILE);
  const cardPath = join(dir, MODEL_CARD_FILE);
  for (const p of [modelPath, cardPath]) {
    if (!existsSync(p)) {
      throw new ModelMismatchError(
        `${p} is missing: the models repo needs /${task}/${MODEL_FILE} and /${task}/${MODEL_CARD_FILE}`,
        [`${p} missing`],
      );
    }
  }
  let card: ModelCard;
  try {
    card = readModelCard(cardPath);
  } catch (err) {
    if (err instanceof ModelCardError) throw new ModelMismatchError(err.message, [err.message]);
    throw err;
  }
  if (card.task !== task) {
    throw new ModelMismatchError(
      `${cardPath}: the card is for task '${card.task}' but it is in the models repo's /${task}/ folder`,
      ['task'],
    );
  }
  const [sha256, worker] = await Promise.all([sha256File(modelPath), InferenceWorker.start(modelPath, settings)]);
  for (const a of worker.attempts) {
    if (a.error) log?.warn('execution provider unavailable, falling back', { provider: a.provider, why: a.error });
  }
  log?.info('model loaded', { model: card.name, provider: worker.provider, sha256: sha256.slice(0, 12) });
  const problems = cardMismatches(card, worker.inputs, worker.outputs);
  if (problems.length) {
    await worker.close();
    throw new ModelMismatchError(
      `${modelPath} does not match its card ${cardPath}:\n  ${problems.join('\n  ')}`,
      problems,
    );
  }
  return { dir, card, sha256, worker };
}
