/** Write a model folder as the models repo holds it: `<dir>/model.onnx` and `<dir>/model.json` (its card). */
import { copyFileSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MODEL_CARD_FILE, MODEL_FILE } from '../../shared/contract/files.js';
import { parseModelCard, type ModelCardInput } from '../../shared/onnx/card.js';
import { writeFileAtomic } from '../../shared/pfs.js';
import { efficientNetB0Card } from './tiny-cnn.js';

export function writeModelFolder(dir: string, model: Buffer, card: ModelCardInput): void {
  parseModelCard(card, join(dir, MODEL_CARD_FILE)); // never write a card the stages would reject
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, MODEL_FILE), model);
  writeFileAtomic(join(dir, MODEL_CARD_FILE), JSON.stringify(card, null, 2) + '\n');
}

/**
 * A model folder for ../shared/fixtures/models/efficientnet-b0-random.onnx (or any torchvision EfficientNet-B0
 * `features` export): copies the model and writes its card.
 */
export function writeEfficientNetB0Folder(dir: string, onnxPath: string, name = 'efficientnet-b0-random'): void {
  const card = efficientNetB0Card(name, `copied from ${onnxPath}`);
  parseModelCard(card);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.model.onnx.${process.pid}.tmp`);
  try {
    copyFileSync(onnxPath, tmp);
    renameSync(tmp, join(dir, MODEL_FILE));
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  writeFileAtomic(join(dir, MODEL_CARD_FILE), JSON.stringify(card, null, 2) + '\n');
}
