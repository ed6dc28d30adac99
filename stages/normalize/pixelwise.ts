/**
 * Whether a normalize model computes each output pixel from the same input pixel alone (StainNet: 1x1
 * convolutions and activations), so that a batch of tiles can be run as thin slabs of rows and give the same
 * pixels. On CPU this is what keeps StainNet at 448 px fast: a batch of 8 tiles makes 32-channel float
 * activations of ~200 MB each, which miss every cache and which ONNX Runtime pages in afresh (measured here:
 * ~80 ms of CPU per tile at batch 8 against ~8 ms in slabs of 32 rows; scripts/bench/vs-peer.ts).
 *
 * Conservative: any operator not known to act pixel by pixel, a convolution wider than 1x1 or strided, a constant
 * that varies over rows or columns, a second graph input, or fixed spatial dims (ONNX Runtime would refuse slabs)
 * makes the answer no, and the stage runs whole tiles as before.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MODEL_FILE } from '../../shared/contract/index.js';
import type { OpenedModel } from '../../shared/onnx/model.js';
import { ModelProto } from '../../shared/onnx/onnx-proto.js';

/** Operators that map each element (or a pixel's channel vector, with per-channel constants) on its own. */
const ELEMENTWISE = new Set([
  'Abs',
  'Add',
  'Cast',
  'Ceil',
  'Clip',
  'Div',
  'Elu',
  'Erf',
  'Exp',
  'Floor',
  'HardSigmoid',
  'HardSwish',
  'Identity',
  'LeakyRelu',
  'Log',
  'Max',
  'Min',
  'Mul',
  'Neg',
  'Pow',
  'PRelu',
  'Relu',
  'Round',
  'Selu',
  'Sigmoid',
  'Softplus',
  'Sqrt',
  'Sub',
  'Tanh',
]);

/**
 * Rows of a 448 px tile per session.run on CPU for a pixel-by-pixel model: 14,336 pixels, whose 32-channel float
 * activations (1.8 MB) stay in cache. 16 to 112 rows ran alike here (7-10 ms of CPU per tile); whole tiles 12-80.
 */
export const SLAB_ROWS = 32;

/** Models above this size are not StainNet-like; their graph is not decoded. */
const MAX_MODEL_BYTES = 16 << 20;

interface Dim {
  dimValue?: number;
  dimParam?: string;
}
interface DecodedModel {
  graph?: {
    node?: {
      opType?: string;
      input?: string[];
      output?: string[];
      attribute?: { name?: string; ints?: number[]; s?: Uint8Array; t?: { dims?: number[] } }[];
    }[];
    initializer?: { name?: string; dims?: number[] }[];
    input?: { name?: string; type?: { tensorType?: { shape?: { dim?: Dim[] } } } }[];
  };
}

/** True when the model at `path` is pixel by pixel with free spatial dims (see above); false when in doubt. */
export function isPixelwiseModel(path: string): boolean {
  try {
    if (statSync(path).size > MAX_MODEL_BYTES) return false;
    const m = ModelProto.toObject(ModelProto.decode(readFileSync(path)), { longs: Number }) as DecodedModel;
    return pixelwiseProblem(m) === undefined;
  } catch {
    return false;
  }
}

/** Why the decoded model is not pixel by pixel, or undefined when it is. */
function pixelwiseProblem(m: DecodedModel): string | undefined {
  const g = m.graph;
  if (!g?.node?.length) return 'no graph';
  const shapes = new Map<string, number[]>();
  for (const t of g.initializer ?? []) shapes.set(t.name ?? '', (t.dims ?? []).map(Number));
  const inputs = (g.input ?? []).filter((i) => !shapes.has(i.name ?? ''));
  if (inputs.length !== 1) return 'more than one input';
  const dims = inputs[0].type?.tensorType?.shape?.dim ?? [];
  if (dims.length !== 4) return 'input is not 4-d';
  // NCHW or NHWC: either way two of the last three dims are spatial and must be free for slabs of rows
  const fixed = dims.slice(1).filter((d) => d.dimValue !== undefined && Number(d.dimValue) > 0).length;
  if (fixed > 1) return 'fixed spatial dims';
  // constants that are the same at every pixel: scalars and per-channel vectors ([C], [C,1,1], [1,C,1,1])
  const uniform = (name: string) => {
    const d = shapes.get(name);
    if (!d) return false;
    if (d.length <= 1) return (d[0] ?? 1) === 1 || d.length === 1;
    return d.slice(-2).every((x) => x === 1);
  };
  const constants = new Set<string>([...shapes.keys()].filter(uniform));
  for (const n of g.node) {
    const op = n.opType ?? '';
    const ins = n.input ?? [];
    if (op === 'Constant') {
      const t = n.attribute?.find((a) => a.name === 'value')?.t;
      const d = (t?.dims ?? []).map(Number);
      if (!t || d.reduce((a, b) => a * b, 1) !== 1) return 'a constant that is not a scalar';
      for (const o of n.output ?? []) constants.add(o);
      continue;
    }
    if (op === 'Conv') {
      const w = shapes.get(ins[1] ?? '');
      if (w?.length !== 4 || w[2] !== 1 || w[3] !== 1) return 'a convolution wider than 1x1';
      for (const a of n.attribute ?? []) {
        const ints = (a.ints ?? []).map(Number);
        if (a.name === 'strides' && ints.some((x) => x !== 1)) return 'a strided convolution';
        if (a.name === 'pads' && ints.some((x) => x !== 0)) return 'a padded convolution';
        if (a.name === 'auto_pad' && !['', 'NOTSET', 'VALID'].includes(Buffer.from(a.s ?? []).toString()))
          return 'a padded convolution';
      }
      continue;
    }
    if (!ELEMENTWISE.has(op)) return `operator ${op}`;
    // a second operand must not vary over the image (a positional bias would)
    const data = ins.filter((i) => i && shapes.has(i) && !constants.has(i));
    if (data.length) return `operator ${op} with a constant that varies over the image`;
  }
  return undefined;
}

/**
 * How normalize runs `model`: on CPU a pixel-by-pixel model taking pixels (StainNet) runs in slabs of rows (same
 * pixels, activations that fit the caches) and, with `colourTable`, through the colour table, so each colour runs
 * once; undefined for whole tiles (another model, the GPU).
 */
export function pixelwisePlan(
  model: OpenedModel,
  colourTable: boolean,
): { rowsPerRun: number; colourTable: boolean } | undefined {
  const slabs =
    model.pixelIo !== undefined && model.worker.provider === 'cpu' && isPixelwiseModel(join(model.dir, MODEL_FILE));
  return slabs ? { rowsPerRun: SLAB_ROWS, colourTable } : undefined;
}
