/**
 * The inference worker thread: owns one ONNX Runtime session so `session.run` (which blocks its thread) never
 * stalls the stage's event loop; the main thread decodes the next batch meanwhile. Messages: see inference.ts.
 */
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { TensorInfo } from './card.js';
import { fromHalf, toHalf } from './half.js';
import { encodeModel } from './onnx-proto.js';
import { wrapWithPixelIo, type PixelIoRequest, type PoolState } from './pixel-io.js';
import { openSession, ProviderError, tensorInfos, type OpenedSession, type SessionSettings } from './providers.js';
import { TransferPool, wholeBuffer } from './buffers.js';
import { ChunkedLookUp } from './chunked-lookup.js';
import { ColourTable } from './colour-table.js';
import { SLOT } from './colour-table-kernel.js';

export interface WorkerInit extends SessionSettings {
  modelPath: string;
  /** Open the model wrapped to take (and for images give) uint8 pixels, when it can be. */
  pixelIo?: PixelIoRequest;
  /** Where to write the session's optimized graph, when it opens on CPU, for sessions opened beside it later. */
  saveOptimizedTo?: string;
  /** Open this graph, another session's optimized one, as it is, in place of the model: see GraphReuse. */
  optimized?: OptimizedGraph;
}
/** A session's optimized graph (a path that opens it) and what that session reported of its tensors. */
export interface OptimizedGraph {
  path: string;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  pixelIo?: PixelIoState;
}
/** Whether the session takes pixels (pixel-io.ts), and why not when it was asked to and does not. */
export interface PixelIoState {
  used: boolean;
  reason?: string;
  /** asked to pool (PixelIoRequest.pool): whether the session does, and why not */
  pooled?: PoolState;
}
export interface RunRequest {
  type: 'run';
  id: number;
  inputName: string;
  outputName: string;
  /** float32 inputs, uint8 pixels, or uint16 block sums (pixel-io.ts) */
  data: Float32Array | Uint8Array | Uint16Array;
  dims: number[];
  /** uint8 NHWC pixels into a pixel-by-pixel model: run them as slabs of this many rows (see runInSlabs) */
  rowsPerRun?: number;
  /** and with rowsPerRun, through the colour table: only colours it has not answered yet are run */
  colourTable?: TableRun;
}
/** A batch through the colour table, looked up by both threads at once: its shared memory (`data` is shared too). */
export interface TableRun {
  /** the table's memory (ColourTable), the same for every batch of the session */
  colours: WebAssembly.Memory;
  /** the batch's ChunkedLookUp */
  lookUp: SharedArrayBuffer;
  /** where the batch's pixels come out */
  output: SharedArrayBuffer;
}
/** An output's buffer given back by the main thread once it is done with it, for a later batch's output. */
export interface RecycleRequest {
  type: 'recycle';
  buffer: ArrayBuffer;
}
export type WorkerMessage =
  | {
      type: 'ready';
      provider: string;
      attempts: { provider: string; error?: string }[];
      inputs: unknown[];
      outputs: unknown[];
      pixelIo?: PixelIoState;
      /** whether the session opened the graph it was given (WorkerInit.optimized) rather than the model */
      openedGraph?: boolean;
    }
  | { type: 'failed'; error: string; attempts: { provider: string; error?: string }[] }
  /** `input`: the request's buffer, handed back for a later batch's input (buffers.ts) */
  | {
      type: 'result';
      id: number;
      data: Float32Array | Uint8Array;
      dims: number[];
      input?: ArrayBuffer;
      coloursRun?: number;
      /** seconds this thread spent on the request (the session's run, and the table's work for a table batch) */
      runS: number;
    }
  | { type: 'error'; id: number; error: string };

/** What a thread says when its session opened. */
export type Ready = Extract<WorkerMessage, { type: 'ready' }>;

const port = parentPort!;
/** Set when the thread was started with its model; a spare started ahead gets it in an 'init' message. */
let init = workerData as WorkerInit;

/** The model wrapped for pixels, or why not; a wrapped model ONNX Runtime refuses falls back to the model as it is. */
async function openWrapped(req: PixelIoRequest): Promise<{
  opened?: OpenedSession;
  declared?: { inputs: TensorInfo[]; outputs: TensorInfo[] };
  state: PixelIoState;
}> {
  let wrapped: ReturnType<typeof wrapWithPixelIo>;
  try {
    wrapped = wrapWithPixelIo(readFileSync(init.modelPath), req);
  } catch (err) {
    // damaged bytes inside the graph: the model as it is goes to ONNX Runtime, whose parser then says so
    return { state: { used: false, reason: `the model's protobuf does not parse: ${(err as Error).message}` } };
  }
  if ('reason' in wrapped) return { state: { used: false, reason: wrapped.reason } };
  try {
    const opened = await openSession(wrapped.model, init, `${init.modelPath} (wrapped for pixel input)`, {
      saveTo: init.saveOptimizedTo,
    });
    return { opened, declared: wrapped.declared, state: { used: true, pooled: wrapped.pooled } };
  } catch (err) {
    return { state: { used: false, reason: `ONNX Runtime did not open the wrapped model: ${(err as Error).message}` } };
  }
}

/**
 * A session of another's optimized graph, reported as that session was; undefined when ONNX Runtime does not open it:
 * the model is then opened as the first session opened it.
 */
async function openOptimized(graph: OptimizedGraph): Promise<OpenedSession | undefined> {
  try {
    return await openSession(graph.path, init, `${init.modelPath} (the first session's optimized graph)`, {
      optimized: true,
    });
  } catch {
    return undefined;
  }
}

async function start(): Promise<void> {
  const graph = init.optimized;
  const reused = graph && (await openOptimized(graph));
  if (graph && reused) {
    const { inputs, outputs, pixelIo } = graph;
    serve(reused, { inputs, outputs, pixelIo, openedGraph: true });
    return;
  }
  const wrapped = init.pixelIo ? await openWrapped(init.pixelIo) : undefined;
  let opened = wrapped?.opened;
  if (!opened) {
    try {
      opened = await openSession(init.modelPath, init, undefined, { saveTo: init.saveOptimizedTo });
    } catch (err) {
      const attempts = err instanceof ProviderError ? err.attempts : [];
      port.postMessage({ type: 'failed', error: (err as Error).message, attempts } satisfies WorkerMessage);
      return;
    }
  }
  const { session } = opened;
  serve(opened, {
    // a wrapped model is checked against its card as the model it wraps declares itself
    inputs: wrapped?.declared?.inputs ?? tensorInfos(session.inputMetadata),
    outputs: wrapped?.declared?.outputs ?? tensorInfos(session.outputMetadata),
    pixelIo: wrapped?.state,
  });
}

/** Says the session is ready (with what it takes and gives) and runs the requests that come. */
function serve(opened: OpenedSession, report: Omit<Ready, 'type' | 'provider' | 'attempts'>): void {
  const { session, provider, attempts } = opened;
  port.postMessage({ type: 'ready', provider, attempts, ...report } satisfies WorkerMessage);

  // float16 inputs take floats converted here (the stage fills float32); float16 outputs go back as float32
  const halfInputs = new Set(
    tensorInfos(session.inputMetadata)
      .filter((i) => i.type === 'float16')
      .map((i) => i.name),
  );
  // outputs written in place (slabs) reuse the buffers the main thread gives back
  const outputs = new TransferPool();
  // Requests are handled one at a time in arrival order; the main thread may queue the next one.
  let queue = Promise.resolve();
  port.on('message', (req: RunRequest | RecycleRequest | { type: 'close' }) => {
    if (req.type === 'recycle') {
      outputs.give(req.buffer);
      return;
    }
    if (req.type === 'close') {
      queue = queue.then(async () => {
        await session.release();
        port.close();
      });
      return;
    }
    queue = queue.then(async () => {
      try {
        const started = performance.now();
        const { data, dims, coloursRun } = await runOne(session, req, halfInputs, outputs);
        const runS = (performance.now() - started) / 1000;
        // the input goes back to the main thread for a later batch: fresh memory costs a page fault per 4 KiB
        const input = wholeBuffer(req.data);
        // shared memory is shared, not transferred
        const send = (out: Float32Array | Uint8Array) =>
          port.postMessage(
            { type: 'result', id: req.id, data: out, dims, input, coloursRun, runS } satisfies WorkerMessage,
            [out.buffer, input].filter((b) => b instanceof ArrayBuffer),
          );
        try {
          send(data);
        } catch {
          // ORT's own output memory (an external buffer) cannot be transferred: a copy can
          send(data.slice());
        }
      } catch (err) {
        port.postMessage({ type: 'error', id: req.id, error: (err as Error).message } satisfies WorkerMessage);
      }
    });
  });
}

/** One request's output, in a buffer of its own that can be transferred. */
async function runOne(
  session: ort.InferenceSession,
  req: RunRequest,
  halfInputs: Set<string>,
  outputs: TransferPool,
): Promise<{ data: Float32Array | Uint8Array; dims: number[]; coloursRun?: number }> {
  if (req.rowsPerRun && req.data instanceof Uint8Array && req.dims.length === 4) {
    const slabs = req as RunRequest & { data: Uint8Array; rowsPerRun: number };
    if (req.colourTable && req.dims[3] === 3) {
      const out = new Uint8Array(req.colourTable.output);
      return { data: out, dims: req.dims, coloursRun: await runThroughTable(session, slabs, req.colourTable, out) };
    }
    const out = new Uint8Array(outputs.take(req.data.byteLength));
    await runInSlabs(session, slabs, out);
    return { data: out, dims: req.dims };
  }
  const input =
    req.data instanceof Uint8Array
      ? new ort.Tensor('uint8', req.data, req.dims)
      : req.data instanceof Uint16Array
        ? new ort.Tensor('uint16', req.data, req.dims)
        : halfInputs.has(req.inputName)
          ? new ort.Tensor('float16', toHalf(req.data), req.dims)
          : new ort.Tensor('float32', req.data, req.dims);
  // a float32 output of an input shape seen before goes into a buffer the main thread gave back (recycle): a fresh
  // one per batch (2 MB for B0 at batch 8) costs its page faults and the garbage collector's time
  const shape = `${req.outputName}:${req.dims.join('x')}`;
  const known = outputDims.get(shape);
  const into = known && new ort.Tensor('float32', new Float32Array(outputs.take(4 * size(known))), known);
  const results = await session.run({ [req.inputName]: input }, into ? { [req.outputName]: into } : [req.outputName]);
  const out = into ?? results[req.outputName];
  if (!known && out.type === 'float32') outputDims.set(shape, [...out.dims]);
  const dims = [...out.dims];
  const raw = out.type === 'float16' ? fromHalf(out.data as Uint16Array) : (out.data as Float32Array | Uint8Array);
  // ORT's output buffer is handed over without a copy when it is a whole ArrayBuffer
  if (wholeBuffer(raw)) return { data: raw, dims };
  const data = raw.slice();
  for (const t of Object.values(results)) t.dispose();
  return { data, dims };
}

/** Each output's dims for an input shape, once seen (`output:dims`): later batches of that shape write in place. */
const outputDims = new Map<string, number[]>();
const size = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/**
 * A batch [n, H, W, 3] of uint8 pixels run as slabs [1, rows, W, 3] of the tiles stacked one above the other,
 * for a model that maps each pixel on its own (the caller knows): the same pixels come back, and the activations
 * stay small enough for the caches instead of hundreds of MB per layer.
 */
async function runInSlabs(
  session: ort.InferenceSession,
  req: RunRequest & { data: Uint8Array; rowsPerRun: number },
  out: Uint8Array,
): Promise<void> {
  const [n, h, w, c] = req.dims;
  const rowBytes = w * c;
  for (let row = 0; row < n * h; row += req.rowsPerRun) {
    const rows = Math.min(req.rowsPerRun, n * h - row);
    const slab = req.data.subarray(row * rowBytes, (row + rows) * rowBytes);
    // the slab's output goes straight into `out` (a pre-allocated output; the Node binding also returns a copy, dropped)
    const into = new ort.Tensor('uint8', out.subarray(row * rowBytes, (row + rows) * rowBytes), [1, rows, w, c]);
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await session.run(
        { [req.inputName]: new ort.Tensor('uint8', slab, [1, rows, w, c]) },
        {
          [req.outputName]: into,
        },
      );
    } catch (err) {
      throw new Error(`a slab of 1x${rows}x${w}x${c} did not run in place: ${(err as Error).message}`);
    }
    const y = results[req.outputName];
    if (y.dims.join(',') !== [1, rows, w, c].join(','))
      throw new Error(`a slab of ${rows} rows gave ${y.dims.join('x')}, not 1x${rows}x${w}x${c}`);
  }
}

/**
 * The session's colour table (shared with the stage's thread, each looking up in its own slot), and the asks'
 * scratch, grown to the largest batch. A worker thread serves one InferenceWorker, whose table is made once.
 */
let table: ColourTable | undefined;
const scratch = { asks: new Uint8Array(0), answers: new Uint8Array(0) };

/**
 * A batch of pixels [n, H, W, 3] through the colour table. This thread claims its chunks (the main thread claims
 * some too while it waits for this one), waits for the last, runs the colours asked (as rows of W pixels, in slabs),
 * learns them and fills the holes. Requests run one at a time, so every colour asked in this batch or an earlier one
 * is answered by then; a colour the main thread asked for a later batch meanwhile is run here as well (same answer).
 * Returns the colours run.
 */
async function runThroughTable(
  session: ort.InferenceSession,
  req: RunRequest & { data: Uint8Array; rowsPerRun: number },
  shared: TableRun,
  out: Uint8Array,
): Promise<number> {
  const [, , w, c] = req.dims;
  const rowBytes = w * c;
  if (scratch.asks.length < req.data.length + rowBytes) {
    scratch.asks = new Uint8Array(req.data.length + rowBytes);
    scratch.answers = new Uint8Array(req.data.length + rowBytes);
  }
  // a memory sent again arrives as a new object over the same bytes: the table is mapped once, in this thread's slot
  table ??= new ColourTable(shared.colours, SLOT.worker);
  const batch = new ChunkedLookUp(shared.lookUp, req.data.length);
  batch.lookUp(table, req.data, out);
  batch.waitDone();
  const asked = batch.gatherAsks(scratch.asks);
  if (asked > 0) {
    try {
      await runColours(session, req, asked);
    } catch (err) {
      table.forget(scratch.asks, asked);
      throw err;
    }
  }
  let late = 0;
  if (batch.fill(table, req.data, out) > 0) {
    late = batch.gatherUnanswered(req.data, scratch.asks);
    await runColours(session, req, late);
    if (batch.fill(table, req.data, out) > 0) throw new Error('colour table: a colour was run and is still unanswered');
  }
  batch.finish();
  return (asked + late) / c;
}

/** The first `bytes` of scratch.asks run through the model as rows of the batch's width, and learnt. */
async function runColours(
  session: ort.InferenceSession,
  req: RunRequest & { data: Uint8Array; rowsPerRun: number },
  bytes: number,
): Promise<void> {
  const [, , w, c] = req.dims;
  // the colours as rows of the tiles' width, the last one padded with black (its answers unused)
  const rows = Math.ceil(bytes / (w * c));
  const input = scratch.asks.subarray(0, rows * w * c);
  input.fill(0, bytes);
  await runInSlabs(session, { ...req, data: input, dims: [1, rows, w, c] }, scratch.answers.subarray(0, input.length));
  table!.learn(scratch.asks, scratch.answers, bytes);
}

/**
 * ONNX Runtime's first session in a process also sets up the runtime itself (~50-90 ms of CPU here): a spare thread
 * opens a one-node model while its process waits for a datum, so the real model's open is only its own. Never fails.
 */
async function warmRuntime(): Promise<void> {
  try {
    const model = encodeModel({
      name: 'warm-up',
      inputs: [{ name: 'x', dims: [1] }],
      outputs: [{ name: 'y', dims: [1] }],
      initializers: [],
      nodes: [{ opType: 'Identity', inputs: ['x'], outputs: ['y'] }],
    });
    const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
    await session.release();
  } catch {
    // the real open reports whatever is wrong with the runtime
  }
}

if (init) void start();
else {
  // a spare thread (InferenceWorker.prewarm): Node's thread start and ONNX Runtime's load happen now; wait for the model
  const warmed = warmRuntime();
  port.once('message', (m: { type: 'init'; init: WorkerInit }) => {
    init = m.init;
    void warmed.then(start);
  });
}
