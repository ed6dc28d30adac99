/**
 * StainNet-shaped models: three 1x1 convolutions 3->32->32->3 with ReLU between, as the published StainNet,
 * with weights chosen by hand so the result is known: the identity, or a fixed shift per colour channel.
 * Pixels go in as (rgb/255 - 0.5)/0.5 in [-1, 1]; adding 1 keeps them >= 0 so both ReLUs pass them through.
 */
import type { ModelCardInput } from '../../shared/onnx/card.js';
import { encodeModel, type GraphSpec } from '../../shared/onnx/onnx-proto.js';
import { seededRandom, uniformWeights } from './random.js';

const HIDDEN = 32;

/** One normalized unit is 127.5 pixel levels: y = 2p/255 - 1. */
export const LEVELS_PER_UNIT = 127.5;

export interface StainNetOptions {
  /** Pixel levels added to R, G, B (before the stage's clamp to 0..255). [0,0,0] is the identity. */
  shift?: [number, number, number];
  /** Spatial dims of the input and output; symbolic by default (StainNet is fully convolutional). */
  spatial?: [number | string, number | string];
  /**
   * Dense random weights from this seed instead of the identity or shift: every output mixes every channel through
   * both hidden layers, as trained weights do (tests of arithmetic that must not depend on where a pixel lies).
   */
  seed?: number;
}

export function stainNetGraph(opts: StainNetOptions = {}): GraphSpec {
  const shift = opts.shift ?? [0, 0, 0];
  const spatial = opts.spatial ?? ['H', 'W'];
  const w1 = new Float32Array(HIDDEN * 3);
  const b1 = new Float32Array(HIDDEN);
  const w2 = new Float32Array(HIDDEN * HIDDEN);
  const b2 = new Float32Array(HIDDEN);
  const w3 = new Float32Array(3 * HIDDEN);
  const b3 = new Float32Array(3);
  if (opts.seed !== undefined) {
    // Glorot-like limits, so the outputs stay within a few units and most pixels do not clamp
    const random = seededRandom(opts.seed);
    w1.set(uniformWeights(w1.length, 1, random));
    b1.set(uniformWeights(b1.length, 0.5, random));
    w2.set(uniformWeights(w2.length, Math.sqrt(6 / HIDDEN), random));
    b2.set(uniformWeights(b2.length, 0.1, random));
    w3.set(uniformWeights(w3.length, Math.sqrt(6 / HIDDEN), random));
  } else
    for (let c = 0; c < 3; c++) {
      w1[c * 3 + c] = 1; // h1[c] = x[c] + 1 >= 0
      b1[c] = 1;
      w2[c * HIDDEN + c] = 1; // h2[c] = h1[c]
      w3[c * HIDDEN + c] = 1; // y[c] = h2[c] - 1 + shift
      b3[c] = -1 + shift[c] / LEVELS_PER_UNIT;
    }
  const conv = (x: string, w: string, b: string, y: string) => ({
    opType: 'Conv',
    inputs: [x, w, b],
    outputs: [y],
    attributes: { kernel_shape: [1, 1], strides: [1, 1], pads: [0, 0, 0, 0] },
  });
  const isIdentity = shift.every((s) => s === 0);
  return {
    name: opts.seed !== undefined ? 'stainnet_random' : isIdentity ? 'stainnet_identity' : 'stainnet_shift',
    doc:
      opts.seed !== undefined
        ? `StainNet-shaped, random weights from seed ${opts.seed} (tessella test model)`
        : isIdentity
          ? 'StainNet-shaped identity (tessella test model)'
          : `StainNet-shaped colour shift by ${shift.join(',')} levels (tessella test model)`,
    inputs: [{ name: 'input', dims: ['N', 3, ...spatial] }],
    outputs: [{ name: 'output', dims: ['N', 3, ...spatial] }],
    initializers: [
      { name: 'w1', dims: [HIDDEN, 3, 1, 1], data: w1 },
      { name: 'b1', dims: [HIDDEN], data: b1 },
      { name: 'w2', dims: [HIDDEN, HIDDEN, 1, 1], data: w2 },
      { name: 'b2', dims: [HIDDEN], data: b2 },
      { name: 'w3', dims: [3, HIDDEN, 1, 1], data: w3 },
      { name: 'b3', dims: [3], data: b3 },
    ],
    nodes: [
      conv('input', 'w1', 'b1', 'h1'),
      { opType: 'Relu', inputs: ['h1'], outputs: ['r1'] },
      conv('r1', 'w2', 'b2', 'h2'),
      { opType: 'Relu', inputs: ['h2'], outputs: ['r2'] },
      conv('r2', 'w3', 'b3', 'output'),
    ],
  };
}

export function buildStainNet(opts: StainNetOptions = {}): Buffer {
  return encodeModel(stainNetGraph(opts));
}

/** The card of a StainNet model (these and the published weights share it). */
export function stainNetCard(name: string, description?: string): ModelCardInput {
  return {
    name,
    task: 'normalize',
    description,
    input: { name: 'input', layout: 'NCHW', size: 448, scale: 1 / 255, mean: 0.5, std: 0.5 },
    output: { name: 'output', layout: 'NCHW', scale: 1 / 255, mean: 0.5, std: 0.5 },
  };
}
