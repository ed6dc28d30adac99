/**
 * A small random-weight ViT-shaped token model, for tests of the pooling modes and of float16 models: a 16 px
 * patch convolution gives 196 patch tokens of `features` values; a class token (a mix of the patches' mean) and
 * `registers` register tokens (mixes of the patches' max) go in front, as timm lays out a ViT's tokens; a linear
 * layer and ReLU mix each token. [N,3,224,224] -> [N, 1 + registers + 196, features]. With `float16`, the model
 * takes and returns float16 (computing in float32 inside, between two Casts), as a half-precision export's I/O is.
 */
import type { ModelCardInput, PoolingMode } from '../../shared/onnx/card.js';
import { DataType, encodeModel, type GraphSpec, type Node } from '../../shared/onnx/onnx-proto.js';
import { seededRandom, uniformWeights } from './random.js';
import { IMAGENET_MEAN, IMAGENET_STD } from './tiny-cnn.js';

export interface TinyVitOptions {
  seed?: number;
  /** Token width C. */
  features?: number;
  registers?: number;
  float16?: boolean;
}

const SIZE = 224;
const PATCH = 16;
const PATCHES = (SIZE / PATCH) ** 2;

export function tinyVitGraph(opts: TinyVitOptions = {}): GraphSpec {
  const C = opts.features ?? 64;
  const R = opts.registers ?? 0;
  const random = seededRandom(opts.seed ?? 0);
  const w = (name: string, dims: number[], limit: number) => ({
    name,
    dims,
    data: uniformWeights(
      dims.reduce((a, b) => a * b, 1),
      limit,
      random,
    ),
  });
  const initializers: GraphSpec['initializers'] = [
    w('patch_w', [C, 3, PATCH, PATCH], Math.sqrt(6 / (3 * PATCH * PATCH))),
    w('patch_b', [C], 0.1),
    { name: 'flat_shape', dims: [3], data: new BigInt64Array([0n, BigInt(C), -1n]) },
    w('cls_w', [C], 1),
    w('cls_b', [C], 0.5),
    w('mix_w', [C, C], Math.sqrt(6 / C)),
    w('mix_b', [C], 0.1),
  ];
  const input = opts.float16 ? 'pixels_f32' : 'pixels';
  const nodes: Node[] = [];
  if (opts.float16)
    nodes.push({ opType: 'Cast', inputs: ['pixels'], outputs: [input], attributes: { to: DataType.FLOAT } });
  nodes.push(
    {
      opType: 'Conv',
      inputs: [input, 'patch_w', 'patch_b'],
      outputs: ['grid'],
      attributes: { kernel_shape: [PATCH, PATCH], strides: [PATCH, PATCH] },
    },
    { opType: 'Reshape', inputs: ['grid', 'flat_shape'], outputs: ['flat'] },
    { opType: 'Transpose', inputs: ['flat'], outputs: ['patches'], attributes: { perm: [0, 2, 1] } },
    { opType: 'ReduceMean', inputs: ['patches'], outputs: ['patch_mean'], attributes: { axes: [1], keepdims: 1 } },
    { opType: 'ReduceMax', inputs: ['patches'], outputs: ['patch_max'], attributes: { axes: [1], keepdims: 1 } },
    { opType: 'Mul', inputs: ['patch_mean', 'cls_w'], outputs: ['cls_scaled'] },
    { opType: 'Add', inputs: ['cls_scaled', 'cls_b'], outputs: ['cls'] },
  );
  const registers: string[] = [];
  for (let r = 0; r < R; r++) {
    initializers.push(w(`reg${r}_w`, [C], 1), w(`reg${r}_b`, [C], 0.5));
    nodes.push(
      { opType: 'Mul', inputs: ['patch_max', `reg${r}_w`], outputs: [`reg${r}_scaled`] },
      { opType: 'Add', inputs: [`reg${r}_scaled`, `reg${r}_b`], outputs: [`reg${r}`] },
    );
    registers.push(`reg${r}`);
  }
  const output = opts.float16 ? 'tokens_f32' : 'tokens';
  nodes.push(
    { opType: 'Concat', inputs: ['cls', ...registers, 'patches'], outputs: ['all'], attributes: { axis: 1 } },
    { opType: 'MatMul', inputs: ['all', 'mix_w'], outputs: ['mixed'] },
    { opType: 'Add', inputs: ['mixed', 'mix_b'], outputs: ['mixed_b'] },
    { opType: 'Relu', inputs: ['mixed_b'], outputs: [output] },
  );
  if (opts.float16)
    nodes.push({ opType: 'Cast', inputs: [output], outputs: ['tokens'], attributes: { to: DataType.FLOAT16 } });
  const elemType = opts.float16 ? DataType.FLOAT16 : DataType.FLOAT;
  return {
    name: 'tiny_vit',
    doc: `random-weight ViT-shaped token model, ${C} features, ${R} registers${opts.float16 ? ', float16 I/O' : ''} (tessella test model)`,
    inputs: [{ name: 'pixels', dims: ['N', 3, SIZE, SIZE], elemType }],
    outputs: [{ name: 'tokens', dims: ['N', 1 + R + PATCHES, C], elemType }],
    initializers,
    nodes,
  };
}

export function buildTinyVit(opts: TinyVitOptions = {}): Buffer {
  return encodeModel(tinyVitGraph(opts));
}

export function tinyVitCard(mode: PoolingMode, opts: TinyVitOptions = {}): ModelCardInput {
  return {
    name: `tiny-vit-${mode}${opts.registers ? `-reg${opts.registers}` : ''}${opts.float16 ? '-fp16' : ''}`,
    task: 'embed',
    description: 'random-weight ViT-shaped token model, for tests; its numbers mean nothing',
    input: { name: 'pixels', layout: 'NCHW', size: SIZE, scale: 1 / 255, mean: IMAGENET_MEAN, std: IMAGENET_STD },
    output: { name: 'tokens', layout: 'NLC' },
    pooling: { mode, ...(opts.registers ? { registers: opts.registers } : { skipTokens: 1 }) },
    geometry: { mpp: 0.5, size: SIZE },
  };
}
