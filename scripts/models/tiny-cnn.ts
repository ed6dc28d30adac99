/**
 * A small random-weight CNN with EfficientNet-B0's input and output shapes ([N,3,224,224] -> [N,1280,7,7]):
 * a 32x32 stride-32 patch convolution, ReLU, and a 1x1 convolution to 1280 channels. Cheap to run, so tests
 * can exercise the whole embed path. Variants return tokens [N,49,1280] or pooled features [N,1280] to test
 * the other output layouts.
 */
import type { ModelCardInput } from '../../shared/onnx/card.js';
import { encodeModel, type GraphSpec, type Node } from '../../shared/onnx/onnx-proto.js';
import { seededRandom, uniformWeights } from './random.js';

export type TinyCnnOutput = 'map' | 'tokens' | 'pooled';

export const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];

export interface TinyCnnOptions {
  output?: TinyCnnOutput;
  seed?: number;
  /** Feature width D (EfficientNet-B0: 1280). */
  features?: number;
  hidden?: number;
}

export function tinyCnnGraph(opts: TinyCnnOptions = {}): GraphSpec {
  const output = opts.output ?? 'map';
  const D = opts.features ?? 1280;
  const H = opts.hidden ?? 48;
  const random = seededRandom(opts.seed ?? 0);
  const patch = 32;
  const initializers: GraphSpec['initializers'] = [
    {
      name: 'w1',
      dims: [H, 3, patch, patch],
      data: uniformWeights(H * 3 * patch * patch, Math.sqrt(6 / (3 * patch * patch)), random),
    },
    { name: 'b1', dims: [H], data: uniformWeights(H, 0.1, random) },
    { name: 'w2', dims: [D, H, 1, 1], data: uniformWeights(D * H, Math.sqrt(6 / H), random) },
    { name: 'b2', dims: [D], data: uniformWeights(D, 0.1, random) },
  ];
  const mapName = output === 'map' ? 'features' : 'map';
  const nodes: Node[] = [
    {
      opType: 'Conv',
      inputs: ['input', 'w1', 'b1'],
      outputs: ['h1'],
      attributes: { kernel_shape: [patch, patch], strides: [patch, patch] },
    },
    { opType: 'Relu', inputs: ['h1'], outputs: ['r1'] },
    { opType: 'Conv', inputs: ['r1', 'w2', 'b2'], outputs: [mapName], attributes: { kernel_shape: [1, 1] } },
  ];
  let outDims: (number | string)[] = ['N', D, 7, 7];
  if (output === 'tokens') {
    initializers.push({ name: 'flat_shape', dims: [3], data: new BigInt64Array([0n, BigInt(D), -1n]) });
    nodes.push({ opType: 'Reshape', inputs: ['map', 'flat_shape'], outputs: ['flat'] });
    nodes.push({ opType: 'Transpose', inputs: ['flat'], outputs: ['features'], attributes: { perm: [0, 2, 1] } });
    outDims = ['N', 49, D];
  } else if (output === 'pooled') {
    nodes.push({ opType: 'GlobalAveragePool', inputs: ['map'], outputs: ['gap'] });
    nodes.push({ opType: 'Flatten', inputs: ['gap'], outputs: ['features'], attributes: { axis: 1 } });
    outDims = ['N', D];
  }
  return {
    name: `tiny_cnn_${output}`,
    doc: `random-weight CNN with EfficientNet-B0's shapes, output ${output} (tessella test model)`,
    inputs: [{ name: 'input', dims: ['N', 3, 224, 224] }],
    outputs: [{ name: 'features', dims: outDims }],
    initializers,
    nodes,
  };
}

export function buildTinyCnn(opts: TinyCnnOptions = {}): Buffer {
  return encodeModel(tinyCnnGraph(opts));
}

export function tinyCnnCard(output: TinyCnnOutput = 'map'): ModelCardInput {
  return {
    name: `tiny-cnn-${output}`,
    task: 'embed',
    description:
      "random-weight CNN with EfficientNet-B0's input and output shapes, for tests; its numbers mean nothing",
    input: { name: 'input', layout: 'NCHW', size: 224, scale: 1 / 255, mean: IMAGENET_MEAN, std: IMAGENET_STD },
    output: { name: 'features', layout: output === 'map' ? 'NCHW' : output === 'tokens' ? 'NLC' : 'NC' },
  };
}

/** The card of torchvision's EfficientNet-B0 `features` (the ../shared fixture, and scripts/export_models.py). */
export function efficientNetB0Card(name = 'efficientnet-b0', source?: string): ModelCardInput {
  return {
    name,
    task: 'embed',
    description:
      'EfficientNet-B0 without top (torchvision `features`): [N,3,224,224] -> [N,1280,7,7], mean and max pooled',
    input: { name: 'input', layout: 'NCHW', size: 224, scale: 1 / 255, mean: IMAGENET_MEAN, std: IMAGENET_STD },
    output: { name: 'features', layout: 'NCHW' },
    source,
  };
}
