/**
 * Build test models for the models repo, without Python:
 *   node dist/scripts/models/build.js --out DIR [--normalize identity|shift|none] [--shift R,G,B]
 *        [--embed tiny|tiny-tokens|tiny-pooled|tiny-vit|none] [--pooling MODE] [--embed-onnx PATH] [--seed N]
 * writes DIR/normalize/{model.onnx,model.json} and DIR/embed/{model.onnx,model.json}.
 * --embed-onnx copies an EfficientNet-B0 `features` ONNX (e.g. ../shared/fixtures/models/efficientnet-b0-random.onnx)
 * and writes its card instead of building the tiny CNN.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { buildStainNet, stainNetCard } from './stainnet.js';
import { POOLING_MODES, type PoolingMode } from '../../shared/onnx/card.js';
import { buildTinyCnn, tinyCnnCard, type TinyCnnOutput } from './tiny-cnn.js';
import { buildTinyVit, tinyVitCard } from './tiny-vit.js';
import { writeEfficientNetB0Folder, writeModelFolder } from './write.js';

export interface BuildOptions {
  out: string;
  normalize: 'identity' | 'shift' | 'none';
  shift: [number, number, number];
  embed: 'tiny' | 'tiny-tokens' | 'tiny-pooled' | 'tiny-vit' | 'none';
  /** tiny-vit only: the card's pooling mode (default cls+mean). */
  pooling?: PoolingMode;
  embedOnnx?: string;
  seed: number;
}

export const DEFAULT_SHIFT: [number, number, number] = [20, -15, 10];

/** Build the requested models; returns the folders written. */
export function buildModels(o: BuildOptions): string[] {
  const written: string[] = [];
  if (o.normalize !== 'none') {
    const dir = join(o.out, 'normalize');
    const shift: [number, number, number] = o.normalize === 'identity' ? [0, 0, 0] : o.shift;
    const name = o.normalize === 'identity' ? 'stainnet-identity' : `stainnet-shift-${shift.join('_')}`;
    writeModelFolder(
      dir,
      buildStainNet({ shift }),
      stainNetCard(
        name,
        o.normalize === 'identity'
          ? 'StainNet-shaped identity (test model)'
          : `StainNet-shaped colour shift by ${shift.join(',')} levels (test model)`,
      ),
    );
    written.push(dir);
  }
  const embedDir = join(o.out, 'embed');
  if (o.embedOnnx) {
    writeEfficientNetB0Folder(embedDir, o.embedOnnx);
    written.push(embedDir);
  } else if (o.embed === 'tiny-vit') {
    const mode = o.pooling ?? 'cls+mean';
    writeModelFolder(embedDir, buildTinyVit({ seed: o.seed }), tinyVitCard(mode));
    written.push(embedDir);
  } else if (o.embed !== 'none') {
    const output: TinyCnnOutput = o.embed === 'tiny' ? 'map' : o.embed === 'tiny-tokens' ? 'tokens' : 'pooled';
    writeModelFolder(embedDir, buildTinyCnn({ output, seed: o.seed }), {
      ...tinyCnnCard(output),
      name: `tiny-cnn-${output}-seed${o.seed}`,
    });
    written.push(embedDir);
  }
  return written;
}

function parseShift(text: string): [number, number, number] {
  const parts = text.split(',').map(Number);
  if (parts.length !== 3 || parts.some((p) => !Number.isFinite(p)))
    throw new Error(`--shift: expected R,G,B numbers, got '${text}'`);
  return parts as [number, number, number];
}

function main(argv: string[]): void {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      normalize: { type: 'string', default: 'identity' },
      shift: { type: 'string', default: DEFAULT_SHIFT.join(',') },
      embed: { type: 'string', default: 'tiny' },
      'embed-onnx': { type: 'string' },
      seed: { type: 'string', default: '0' },
      pooling: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || !values.out) {
    process.stderr.write(
      'usage: build --out DIR [--normalize identity|shift|none] [--shift R,G,B] [--embed tiny|tiny-tokens|tiny-pooled|tiny-vit|none] [--pooling MODE] [--embed-onnx PATH] [--seed N]\n',
    );
    process.exit(values.help ? 0 : 2);
  }
  const normalize = values.normalize as BuildOptions['normalize'];
  if (!['identity', 'shift', 'none'].includes(normalize))
    throw new Error(`--normalize: expected identity, shift or none, got '${normalize}'`);
  const embed = values.embed as BuildOptions['embed'];
  if (!['tiny', 'tiny-tokens', 'tiny-pooled', 'tiny-vit', 'none'].includes(embed))
    throw new Error(`--embed: expected tiny, tiny-tokens, tiny-pooled, tiny-vit or none, got '${embed}'`);
  const pooling = values.pooling as PoolingMode | undefined;
  if (pooling !== undefined && !POOLING_MODES.includes(pooling))
    throw new Error(`--pooling: expected one of ${POOLING_MODES.join(', ')}, got '${pooling}'`);
  const seed = Number(values.seed);
  if (!Number.isInteger(seed)) throw new Error(`--seed: expected an integer, got '${values.seed}'`);
  const written = buildModels({
    out: resolve(values.out),
    normalize,
    shift: parseShift(values.shift!),
    embed,
    pooling,
    embedOnnx: values['embed-onnx'] ? resolve(values['embed-onnx']) : undefined,
    seed,
  });
  for (const dir of written) process.stdout.write(`${dir}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`build: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
