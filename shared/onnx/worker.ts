/**
 * The inference worker thread: owns one ONNX Runtime session so `session.run` (which blocks its thread) never
 * stalls the stage's event loop; the main thread decodes the next batch meanwhile. Messages: see inference.ts.
 */
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { TensorInfo } from './card.js';
import { fromHalf, toHalf } from './half.js';
import { wrapWithPixelIo, type PixelIoRequest } from './pixel-io.js';
import { openSession, ProviderError, tensorInfos, type OpenedSession, type SessionSettings } from './providers.js';

export interface WorkerInit extends SessionSettings {
  modelPath: string;
  /** Open the model wrapped to take (and for images give) uint8 pixels, when it can be. */
  pixelIo?: PixelIoRequest;
}
/** Whether the session takes pixels (pixel-io.ts), and why not when it was asked to and does not. */
export interface PixelIoState {
  used: boolean;
  reason?: string;
}
export interface RunRequest {
  type: 'run';
  id: number;
  inputName: string;
  outputName: string;
  data: Float32Array | Uint8Array;
  dims: number[];
  /** uint8 NHWC pixels into a pixel-by-pixel model: run them as slabs of this many rows (see runInSlabs) */
  rowsPerRun?: number;
}
export type WorkerMessage =
  | {
      type: 'ready';
      provider: string;
      attempts: { provider: string; error?: string }[];
      inputs: unknown[];
      outputs: unknown[];
      pixelIo?: PixelIoState;
    }
  | { type: 'failed'; error: string; attempts: { provider: string; error?: string }[] }
  | { type: 'result'; id: number; data: Float32Array | Uint8Array; dims: number[] }
  | { type: 'error'; id: number; error: string };

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
    const opened = await openSession(wrapped.model, init, `${init.modelPath} (wrapped for pixel input)`);
    return { opened, declared: wrapped.declared, state: { used: true } };
  } catch (err) {
    return { state: { used: false, reason: `ONNX Runtime did not open the wrapped model: ${(err as Error).message}` } };
  }
}

async function start(): Promise<void> {
  const wrapped = init.pixelIo ? await openWrapped(init.pixelIo) : undefined;
  let opened = wrapped?.opened;
  if (!opened) {
    try {
      opened = await openSession(init.modelPath, init);
    } catch (err) {
      const attempts = err instanceof ProviderError ? err.attempts : [];
      port.postMessage({ type: 'failed', error: (err as Error).message, attempts } satisfies WorkerMessage);
      return;
    }
  }
  const { session, provider, attempts } = opened;
  port.postMessage({
    type: 'ready',
    provider,
    attempts,
    // a wrapped model is checked against its card as the model it wraps declares itself
    inputs: wrapped?.declared?.inputs ?? tensorInfos(session.inputMetadata),
    outputs: wrapped?.declared?.outputs ?? tensorInfos(session.outputMetadata),
    pixelIo: wrapped?.state,
  } satisfies WorkerMessage);

  // float16 inputs take floats converted here (the stage fills float32); float16 outputs go back as float32
  const halfInputs = new Set(
    tensorInfos(session.inputMetadata)
      .filter((i) => i.type === 'float16')
      .map((i) => i.name),
  );
  // Requests are handled one at a time in arrival order; the main thread may queue the next one.
  let queue = Promise.resolve();
  port.on('message', (req: RunRequest | { type: 'close' }) => {
    if (req.type === 'close') {
      queue = queue.then(async () => {
        await session.release();
        port.close();
      });
      return;
    }
    queue = queue.then(async () => {
      try {
        if (req.rowsPerRun && req.data instanceof Uint8Array && req.dims.length === 4) {
          const data = await runInSlabs(session, req as RunRequest & { data: Uint8Array; rowsPerRun: number });
          port.postMessage({ type: 'result', id: req.id, data, dims: req.dims } satisfies WorkerMessage, [
            data.buffer as ArrayBuffer,
          ]);
          return;
        }
        const input =
          req.data instanceof Uint8Array
            ? new ort.Tensor('uint8', req.data, req.dims)
            : halfInputs.has(req.inputName)
              ? new ort.Tensor('float16', toHalf(req.data), req.dims)
              : new ort.Tensor('float32', req.data, req.dims);
        const results = await session.run({ [req.inputName]: input }, [req.outputName]);
        const out = results[req.outputName];
        const dims = [...out.dims];
        const raw =
          out.type === 'float16' ? fromHalf(out.data as Uint16Array) : (out.data as Float32Array | Uint8Array);
        // Hand ORT's output buffer over without a copy when it is a whole, transferable ArrayBuffer.
        if (raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength && raw.buffer instanceof ArrayBuffer) {
          try {
            port.postMessage({ type: 'result', id: req.id, data: raw, dims } satisfies WorkerMessage, [raw.buffer]);
            return;
          } catch {
            // not transferable (an external buffer): copy below
          }
        }
        const data = raw.slice();
        for (const t of Object.values(results)) t.dispose();
        port.postMessage({ type: 'result', id: req.id, data, dims } satisfies WorkerMessage, [data.buffer]);
      } catch (err) {
        port.postMessage({ type: 'error', id: req.id, error: (err as Error).message } satisfies WorkerMessage);
      }
    });
  });
}

/**
 * A batch [n, H, W, 3] of uint8 pixels run as slabs [1, rows, W, 3] of the tiles stacked one above the other,
 * for a model that maps each pixel on its own (the caller knows): the same pixels come back, and the activations
 * stay small enough for the caches instead of hundreds of MB per layer.
 */
async function runInSlabs(
  session: ort.InferenceSession,
  req: RunRequest & { data: Uint8Array; rowsPerRun: number },
): Promise<Uint8Array> {
  const [n, h, w, c] = req.dims;
  const rowBytes = w * c;
  const out = new Uint8Array(n * h * rowBytes);
  for (let row = 0; row < n * h; row += req.rowsPerRun) {
    const rows = Math.min(req.rowsPerRun, n * h - row);
    const slab = req.data.subarray(row * rowBytes, (row + rows) * rowBytes);
    const results = await session.run({ [req.inputName]: new ort.Tensor('uint8', slab, [1, rows, w, c]) }, [
      req.outputName,
    ]);
    const y = results[req.outputName];
    if (y.dims.join(',') !== [1, rows, w, c].join(','))
      throw new Error(`a slab of ${rows} rows gave ${y.dims.join('x')}, not 1x${rows}x${w}x${c}`);
    out.set(y.data as Uint8Array, row * rowBytes);
    for (const t of Object.values(results)) t.dispose();
  }
  return out;
}

if (init) void start();
else {
  // a spare thread (InferenceWorker.prewarm): Node's thread start and ONNX Runtime's load are done; wait for the model
  port.once('message', (m: { type: 'init'; init: WorkerInit }) => {
    init = m.init;
    void start();
  });
}
