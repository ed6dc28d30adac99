/**
 * A model wrapped to take tile pixels as they are decoded (uint8, N x H x W x 3; or, for a feature model on CPU,
 * their k x k block sums: see `sums`) and, for image models, to give pixels back the same way: the card's arithmetic
 * (tensor.ts: scale, mean, std, layout, a k x k mean, clamp and round) runs as ONNX nodes inside ONNX Runtime,
 * vectorized on its threads or on the GPU, instead of as JavaScript loops on the stage's main thread (~2-6 ms of CPU
 * per 448 px tile each way on this project's machines), and the batches sent to the worker are bytes, 4x smaller
 * than floats.
 *
 * The model's bytes are edited field by field, not decoded and re-encoded: everything of the model that is not
 * the one input and (for images) the one output replaced is copied as it is, so fields this schema does not know
 * survive. Models it cannot wrap (an opset below 11 for images, external data, names it does not find) are
 * reported with the reason, and the stage converts pixels in JavaScript as before.
 */
import protobuf from 'protobufjs';
import type { ModelCard, TensorInfo } from './card.js';
import {
  attribute,
  DataType,
  initializer,
  NodeProto,
  OperatorSetIdProto,
  ORT_TYPE_NAMES,
  TensorProto,
  ValueInfoProto,
  valueInfo,
  type Initializer,
  type Node,
} from './onnx-proto.js';

/** What to wrap: the card's input (and output, for an image model), and the k x k mean taken on the way in. */
export interface PixelIoRequest {
  input: ModelCard['input'];
  /** Set for an image model (normalize): its output comes back as pixels. */
  output?: ModelCard['output'];
  k: number;
  /**
   * The stage sends each k x k block's sum per channel, planar (uint16 [N, 3, H, W] at the model's size; tensor.ts
   * `sumsBatch`), not the tile's bytes: the session then skips a transpose, a cast and a mean at the tile's full
   * resolution (~0.8 ms of CPU a 448 px tile for B0 on 2 cores, half the bytes sent), for ~0.2 ms of the stage's
   * thread. The same floats reach the model (see `canSum`).
   */
  sums?: boolean;
  /** Set for a feature model whose vectors are pooled inside the session (see PoolRequest). */
  pool?: PoolRequest;
}

/**
 * A feature map's mean and max over its positions taken by the session (embed), in place of the stage's pooling
 * (pooling.ts): the session gives [N, vectors x C], each vector's C values in `vectors` order, not the map. The
 * mean is summed and divided in float64 and rounded to float32 once, as poolFeatures does; the max is exact. Only
 * for a map whose positions are fixed in the model's declared output (the count is a constant); otherwise the
 * stage pools as before.
 */
export interface PoolRequest {
  /** the model's output, a feature map */
  output: string;
  layout: 'NCHW' | 'NHWC';
  vectors: ('avg' | 'max')[];
}

/**
 * Whether block sums give the model the same floats as the mean: a sum of k x k bytes is exact in float32 and
 * uint16 up to k = 16, and sum x (a / k^2) rounds as (sum / k^2) x a only when k^2 is a power of two.
 */
export function canSum(k: number): boolean {
  return Number.isInteger(k) && k >= 2 && k <= 16 && (k & (k - 1)) === 0;
}

export const PIXELS_INPUT = 'tessella_pixels';
export const PIXELS_OUTPUT = 'tessella_rgb';
export const POOLED_OUTPUT = 'tessella_pooled';

/** Whether the session pools (PoolRequest), and why not when it was asked to and does not. */
export interface PoolState {
  used: boolean;
  reason?: string;
}

export type Wrapped =
  | {
      model: Buffer;
      /** The model's own inputs and outputs as it declares them (what the card is checked against). */
      declared: { inputs: TensorInfo[]; outputs: TensorInfo[] };
      pooled?: PoolState;
    }
  | { reason: string };

interface Field {
  no: number;
  start: number;
  end: number;
  /** the value of a length-delimited field */
  body?: Uint8Array;
  /** the value of a varint field */
  varint?: number;
}

/** The top-level fields of a protobuf message, in order, each with its byte range. */
function fieldsOf(buf: Uint8Array): Field[] {
  const r = protobuf.Reader.create(buf);
  const out: Field[] = [];
  while (r.pos < r.len) {
    const start = r.pos;
    const tag = r.uint32();
    const wire = tag & 7;
    if (wire === 2) {
      const len = r.uint32();
      const from = r.pos;
      r.skip(len);
      out.push({ no: tag >>> 3, start, end: r.pos, body: buf.subarray(from, r.pos) });
    } else if (wire === 0) {
      const varint = r.uint32();
      out.push({ no: tag >>> 3, start, end: r.pos, varint });
    } else {
      r.skipType(wire);
      out.push({ no: tag >>> 3, start, end: r.pos });
    }
  }
  return out;
}

const MODEL_GRAPH = 7;
const MODEL_OPSET = 8;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const GRAPH_INPUT = 11;
const GRAPH_OUTPUT = 12;
const TENSOR_NAME = 8;
const TENSOR_DATA_LOCATION = 14;

/** A ValueInfoProto as ONNX Runtime's session metadata describes it. */
function infoOf(body: Uint8Array): TensorInfo {
  const v = ValueInfoProto.toObject(ValueInfoProto.decode(body), { longs: Number }) as {
    name: string;
    type?: { tensorType?: { elemType?: number; shape?: { dim?: { dimValue?: number; dimParam?: string }[] } } };
  };
  const t = v.type?.tensorType;
  if (!t) return { name: v.name, isTensor: false, shape: [] };
  const shape = (t.shape?.dim ?? []).map((d) => d.dimValue ?? d.dimParam ?? '');
  return { name: v.name, isTensor: true, type: ORT_TYPE_NAMES[t.elemType ?? 0] ?? String(t.elemType), shape };
}

/** The tag and length that precede a length-delimited field's `length` bytes. */
function fieldHeader(no: number, length: number): Uint8Array {
  return protobuf.Writer.create()
    .uint32((no << 3) | 2)
    .uint32(length)
    .finish();
}

function lengthDelimited(no: number, body: Uint8Array): Uint8Array {
  return Buffer.concat([fieldHeader(no, body.length), body]);
}

function nodeField(n: Node, index: number): Uint8Array {
  const msg = NodeProto.fromObject({
    name: `tessella_pixel_io_${index}`,
    opType: n.opType,
    input: n.inputs,
    output: n.outputs,
    attribute: Object.entries(n.attributes ?? {}).map(([k, v]) => attribute(k, v)),
  });
  return lengthDelimited(GRAPH_NODE, NodeProto.encode(msg).finish());
}

function initializerField(t: Initializer): Uint8Array {
  return lengthDelimited(GRAPH_INITIALIZER, TensorProto.encode(TensorProto.fromObject(initializer(t))).finish());
}

function valueInfoField(no: number, name: string, elemType: number, dims: (number | string)[]): Uint8Array {
  const msg = ValueInfoProto.fromObject(valueInfo({ name, dims, elemType }));
  return lengthDelimited(no, ValueInfoProto.encode(msg).finish());
}

const f32 = (values: number[]) => Float32Array.from(values);
const NHWC_TO_NCHW = [0, 3, 1, 2];
const NCHW_TO_NHWC = [0, 2, 3, 1];
const NHWC_DIMS = ['N', 'H', 'W', 3];

/**
 * uint8 NHWC pixels (or block sums) -> the model's input, per the card: x = (mean_k(p) * scale - mean[c]) / std[c].
 * The arithmetic runs on NCHW planes, where a per-channel constant is one number per contiguous plane (ONNX
 * Runtime's Mul and Add broadcast a [3] over interleaved pixels ~8x slower).
 */
function inputNodes(
  req: PixelIoRequest,
  inputName: string,
  inputType: string | undefined,
): { nodes: Node[]; initializers: Initializer[] } {
  const { input, k } = req;
  // sums: the mean's 1 / k^2 goes into a, exactly (a power of two; canSum)
  const perSum = req.sums ? k * k : 1;
  const a = [0, 1, 2].map((c) => input.scale / input.std[c] / perSum);
  const b = [0, 1, 2].map((c) => -input.mean[c] / input.std[c]);
  const nodes: Node[] = req.sums
    ? [{ opType: 'Cast', inputs: [PIXELS_INPUT], outputs: ['tessella_px_f'], attributes: { to: DataType.FLOAT } }]
    : [
        {
          opType: 'Transpose',
          inputs: [PIXELS_INPUT],
          outputs: ['tessella_px_nchw'],
          attributes: { perm: NHWC_TO_NCHW },
        },
        {
          opType: 'Cast',
          inputs: ['tessella_px_nchw'],
          outputs: ['tessella_px_f'],
          attributes: { to: DataType.FLOAT },
        },
      ];
  let x = 'tessella_px_f';
  if (k > 1 && !req.sums) {
    nodes.push({
      opType: 'AveragePool',
      inputs: [x],
      outputs: ['tessella_px_mean'],
      attributes: { kernel_shape: [k, k], strides: [k, k] },
    });
    x = 'tessella_px_mean';
  }
  const nhwc = input.layout === 'NHWC';
  // a float16 model: the arithmetic in float32 as for any model, its result cast last (what the JavaScript path does)
  const half = inputType === 'float16';
  const beforeCast = half ? 'tessella_px_x32' : inputName;
  nodes.push(
    { opType: 'Mul', inputs: [x, 'tessella_in_a'], outputs: ['tessella_px_scaled'] },
    { opType: 'Add', inputs: ['tessella_px_scaled', 'tessella_in_b'], outputs: [nhwc ? 'tessella_px_x' : beforeCast] },
  );
  if (nhwc)
    nodes.push({
      opType: 'Transpose',
      inputs: ['tessella_px_x'],
      outputs: [beforeCast],
      attributes: { perm: NCHW_TO_NHWC },
    });
  if (half)
    nodes.push({ opType: 'Cast', inputs: [beforeCast], outputs: [inputName], attributes: { to: DataType.FLOAT16 } });
  const initializers: Initializer[] = [
    { name: 'tessella_in_a', dims: [1, 3, 1, 1], data: f32(a) },
    { name: 'tessella_in_b', dims: [1, 3, 1, 1], data: f32(b) },
  ];
  return { nodes, initializers };
}

/**
 * The model's image output -> uint8 NHWC pixels: round(clamp((y * std[c] + mean[c]) / scale, 0, 255)), half to
 * even. On NCHW planes (see inputNodes); after a Conv, ONNX Runtime folds the Mul and Add into its weights.
 */
function outputNodes(
  output: ModelCard['output'],
  outputName: string,
  outputType: string | undefined,
): { nodes: Node[]; initializers: Initializer[] } {
  const a = [0, 1, 2].map((c) => output.std[c] / output.scale);
  const b = [0, 1, 2].map((c) => output.mean[c] / output.scale);
  const nodes: Node[] = [];
  let y = outputName;
  if (outputType === 'float16') {
    nodes.push({ opType: 'Cast', inputs: [y], outputs: ['tessella_y_f32'], attributes: { to: DataType.FLOAT } });
    y = 'tessella_y_f32';
  }
  if (output.layout === 'NHWC') {
    nodes.push({ opType: 'Transpose', inputs: [y], outputs: ['tessella_y_nchw'], attributes: { perm: NHWC_TO_NCHW } });
    y = 'tessella_y_nchw';
  }
  nodes.push(
    { opType: 'Mul', inputs: [y, 'tessella_out_a'], outputs: ['tessella_y_scaled'] },
    { opType: 'Add', inputs: ['tessella_y_scaled', 'tessella_out_b'], outputs: ['tessella_y_px'] },
    {
      opType: 'Clip',
      inputs: ['tessella_y_px', 'tessella_out_min', 'tessella_out_max'],
      outputs: ['tessella_y_clipped'],
    },
    { opType: 'Round', inputs: ['tessella_y_clipped'], outputs: ['tessella_y_round'] },
    { opType: 'Cast', inputs: ['tessella_y_round'], outputs: ['tessella_y_u8'], attributes: { to: DataType.UINT8 } },
    { opType: 'Transpose', inputs: ['tessella_y_u8'], outputs: [PIXELS_OUTPUT], attributes: { perm: NCHW_TO_NHWC } },
  );
  const initializers: Initializer[] = [
    { name: 'tessella_out_a', dims: [1, 3, 1, 1], data: f32(a) },
    { name: 'tessella_out_b', dims: [1, 3, 1, 1], data: f32(b) },
    { name: 'tessella_out_min', dims: [], data: f32([0]) },
    { name: 'tessella_out_max', dims: [], data: f32([255]) },
  ];
  return { nodes, initializers };
}

/**
 * The feature map `features` ([N, C, H, W] or [N, H, W, C], H x W = `positions`) -> [N, vectors x C]: ReduceMax for
 * max; for avg a float64 ReduceSum divided by the count, cast to float32 (poolFeatures' arithmetic). `opset` decides
 * whether the reductions take their axes as an attribute or an input (ReduceSum from 13, ReduceMax from 18).
 */
function poolNodes(
  pool: PoolRequest,
  positions: number,
  opset: number,
): { nodes: Node[]; initializers: Initializer[] } {
  const axes = pool.layout === 'NCHW' ? [2, 3] : [1, 2];
  const initializers: Initializer[] = [];
  const reduce = (op: string, input: string, output: string, axesAsInput: boolean): Node => {
    if (!axesAsInput) return { opType: op, inputs: [input], outputs: [output], attributes: { axes, keepdims: 0 } };
    if (!initializers.some((t) => t.name === 'tessella_pool_axes'))
      initializers.push({ name: 'tessella_pool_axes', dims: [2], data: BigInt64Array.from(axes.map(BigInt)) });
    return { opType: op, inputs: [input, 'tessella_pool_axes'], outputs: [output], attributes: { keepdims: 0 } };
  };
  const nodes: Node[] = [];
  const joined: string[] = [];
  for (const v of pool.vectors) {
    if (v === 'max') {
      nodes.push(reduce('ReduceMax', pool.output, 'tessella_pool_max', opset >= 18));
      joined.push('tessella_pool_max');
      continue;
    }
    initializers.push({ name: 'tessella_pool_count', dims: [], data: Float64Array.of(positions) });
    nodes.push(
      { opType: 'Cast', inputs: [pool.output], outputs: ['tessella_pool_f64'], attributes: { to: DataType.DOUBLE } },
      reduce('ReduceSum', 'tessella_pool_f64', 'tessella_pool_sum', opset >= 13),
      { opType: 'Div', inputs: ['tessella_pool_sum', 'tessella_pool_count'], outputs: ['tessella_pool_mean'] },
      {
        opType: 'Cast',
        inputs: ['tessella_pool_mean'],
        outputs: ['tessella_pool_avg'],
        attributes: { to: DataType.FLOAT },
      },
    );
    joined.push('tessella_pool_avg');
  }
  nodes.push({ opType: 'Concat', inputs: joined, outputs: [POOLED_OUTPUT], attributes: { axis: 1 } });
  return { nodes, initializers };
}

/** The positions of a float32 feature map as its model declares it (H x W), when both are fixed; else why not. */
function mapPositions(info: TensorInfo | undefined, layout: PoolRequest['layout']): number | string {
  if (!info) return 'the model has no such output';
  if (info.type !== 'float32') return `the map is ${info.type}, not float32`;
  const [, a, b, c] = info.shape;
  const [h, w] = layout === 'NCHW' ? [b, c] : [a, b];
  if (info.shape.length !== 4 || typeof h !== 'number' || typeof w !== 'number' || h <= 0 || w <= 0)
    return `its positions are not fixed in the model (${info.shape.join('x')})`;
  return h * w;
}

/**
 * The model's own input dims for a batch of pixels [n, h, w, 3] (h and w: k x the model's), or of sums
 * [n, 3, h, w].
 */
export function modelInputDims(req: PixelIoRequest, batchDims: number[]): number[] {
  const [n, h, w] = req.sums ? [batchDims[0], batchDims[2], batchDims[3]] : batchDims;
  const mh = req.sums ? h : h / req.k;
  const mw = req.sums ? w : w / req.k;
  return req.input.layout === 'NCHW' ? [n, 3, mh, mw] : [n, mh, mw, 3];
}

/**
 * What ONNX Runtime would say of these dims for the model's declared input (its fixed dims), which a wrapped
 * model no longer checks by itself: the declared input is inside its graph now. undefined when they fit.
 */
export function inputDimsProblem(declared: TensorInfo | undefined, dims: number[]): string | undefined {
  if (!declared) return undefined;
  if (dims.some((d) => !Number.isInteger(d)))
    return `the tiles are not a whole multiple of the model's input (${dims.join('x')})`;
  const wrong = declared.shape
    .map((d, i) => ({ d, i }))
    .filter(({ d, i }) => typeof d === 'number' && d > 0 && d !== dims[i]);
  if (declared.shape.length !== dims.length || wrong.length === 0) return undefined;
  return `invalid dimensions for input '${declared.name}': ${wrong.map(({ d, i }) => `index ${i} got ${dims[i]}, expected ${d}`).join('; ')}`;
}

/** The default domain's opset the model imports (0 when it imports none). */
function defaultOpset(fields: Field[]): number {
  for (const f of fields) {
    if (f.no !== MODEL_OPSET || !f.body) continue;
    const o = OperatorSetIdProto.toObject(OperatorSetIdProto.decode(f.body), { longs: Number }) as {
      domain?: string;
      version?: number;
    };
    if (!o.domain || o.domain === 'ai.onnx') return o.version ?? 0;
  }
  return 0;
}

/** Wrap `model` (the bytes of model.onnx) for pixel input, and pixel output when `req.output` is set. */
export function wrapWithPixelIo(model: Uint8Array, req: PixelIoRequest): Wrapped {
  if (!Number.isInteger(req.k) || req.k < 1)
    return { reason: `the tile is not a whole multiple of the model's size (k = ${req.k})` };
  if (req.sums && (req.output || !canSum(req.k)))
    return { reason: `block sums are for a feature model at k = 2, 4, 8 or 16 (k = ${req.k})` };
  const top = fieldsOf(model);
  const graphs = top.filter((f) => f.no === MODEL_GRAPH && f.body);
  if (graphs.length !== 1) return { reason: 'the model has no single graph' };
  const opset = defaultOpset(top);
  if (opset < (req.output ? 11 : 7))
    return {
      reason: `the model imports opset ${opset}; turning pixels into inputs needs ${req.output ? 11 : 7} or later`,
    };
  const graph = fieldsOf(graphs[0].body!);

  const initializerNames = new Set<string>();
  for (const f of graph) {
    if (f.no !== GRAPH_INITIALIZER) continue;
    const t = fieldsOf(f.body!);
    if (t.some((x) => x.no === TENSOR_DATA_LOCATION && x.varint === 1))
      return { reason: 'the model keeps tensors in external data files' };
    const name = t.find((x) => x.no === TENSOR_NAME && x.body);
    if (name) initializerNames.add(Buffer.from(name.body!).toString('utf8'));
  }
  const inputs: { field: Field; info: TensorInfo }[] = [];
  const outputs: { field: Field; info: TensorInfo }[] = [];
  for (const f of graph) {
    if (f.no === GRAPH_INPUT) {
      const info = infoOf(f.body!);
      if (!initializerNames.has(info.name)) inputs.push({ field: f, info });
    } else if (f.no === GRAPH_OUTPUT) outputs.push({ field: f, info: infoOf(f.body!) });
  }
  const declared = { inputs: inputs.map((i) => i.info), outputs: outputs.map((o) => o.info) };
  const input = inputs.find((i) => i.info.name === req.input.name);
  if (!input || inputs.length !== 1)
    return { reason: `the model's inputs are not the card's one input '${req.input.name}'` };
  const output = req.output ? outputs.find((o) => o.info.name === req.output!.name) : undefined;
  if (req.output && !output) return { reason: `the model has no output '${req.output.name}'` };
  for (const i of [...declared.inputs, ...declared.outputs])
    if (i.name.startsWith('tessella_')) return { reason: `the model already has a tensor named ${i.name}` };

  const pre = inputNodes(req, req.input.name, input.info.type);
  let post: { nodes: Node[]; initializers: Initializer[] } = { nodes: [], initializers: [] };
  let pooled: PoolState | undefined;
  let pooledField: Field | undefined;
  if (req.output) post = outputNodes(req.output, req.output.name, output?.info.type);
  else if (req.pool) {
    const map = outputs.find((o) => o.info.name === req.pool!.output);
    const positions = mapPositions(map?.info, req.pool.layout);
    if (typeof positions === 'string') pooled = { used: false, reason: positions };
    else {
      post = poolNodes(req.pool, positions, opset);
      pooled = { used: true };
      pooledField = map!.field;
    }
  }
  const parts: Uint8Array[] = [];
  // nodes in topological order: the input's nodes first, the model's, then the output's
  pre.nodes.forEach((n, i) => parts.push(nodeField(n, i)));
  for (const f of graph) {
    if (f === input.field || f === output?.field || f === pooledField) continue;
    parts.push(graphs[0].body!.subarray(f.start, f.end));
  }
  post.nodes.forEach((n, i) => parts.push(nodeField(n, pre.nodes.length + i)));
  for (const t of [...pre.initializers, ...post.initializers]) parts.push(initializerField(t));
  if (req.sums) parts.push(valueInfoField(GRAPH_INPUT, PIXELS_INPUT, DataType.UINT16, ['N', 3, 'H', 'W']));
  else parts.push(valueInfoField(GRAPH_INPUT, PIXELS_INPUT, DataType.UINT8, NHWC_DIMS));
  if (req.output) parts.push(valueInfoField(GRAPH_OUTPUT, PIXELS_OUTPUT, DataType.UINT8, NHWC_DIMS));
  if (pooledField) parts.push(valueInfoField(GRAPH_OUTPUT, POOLED_OUTPUT, DataType.FLOAT, ['N', 'P']));

  // the model's bytes copied once: the graph's parts go in place behind their new header
  const graphLength = parts.reduce((n, p) => n + p.length, 0);
  const out: Uint8Array[] = [];
  for (const f of top) {
    if (f !== graphs[0]) out.push(model.subarray(f.start, f.end));
    else out.push(fieldHeader(MODEL_GRAPH, graphLength), ...parts);
  }
  return { model: Buffer.concat(out), declared, ...(pooled && { pooled }) };
}
