/**
 * The main thread's side of the inference worker: start it (a session with provider fallback), check nothing
 * blocks, send batches, get outputs back. Buffers move between threads without copies (transferred).
 */
import { Worker } from 'node:worker_threads';
import type { TensorInfo } from './card.js';
import { inputDimsProblem, modelInputDims, type PixelIoRequest } from './pixel-io.js';
import type { ProviderAttempt, SessionSettings } from './providers.js';
import { SharedPool, TransferPool, wholeBuffer } from './buffers.js';
import { ChunkedLookUp } from './chunked-lookup.js';
import { ColourTable } from './colour-table.js';
import type { PixelIoState, RecycleRequest, RunRequest, WorkerInit, WorkerMessage } from './worker.js';

export interface InferenceOutput {
  /** float32, or uint8 pixels from a model wrapped for pixel output */
  data: Float32Array | Uint8Array;
  dims: number[];
  /** through the colour table: how many colours ran through the model (the rest of the pixels were answered) */
  coloursRun?: number;
}

export class InferenceRunError extends Error {
  constructor(
    message: string,
    readonly inputDims: number[],
  ) {
    super(message);
    this.name = 'InferenceRunError';
  }
}

// Built, the worker is worker.js beside this file. Under tsx (tests, scripts) it is worker.ts, and Node 20 does
// not pass tsx's loader hooks on to worker threads: register them in the worker before importing it.
const fromSource = import.meta.url.endsWith('.ts');
const workerUrl = new URL(fromSource ? './worker.ts' : './worker.js', import.meta.url);

function newWorker(workerData: WorkerInit | undefined): Worker {
  if (!fromSource) return new Worker(workerUrl, { workerData });
  const boot = `import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(workerUrl.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

/** A thread started ahead by prewarm(), its imports (ONNX Runtime) loading while the stage waits for its datum. */
let spare: Worker | undefined;

export class InferenceWorker {
  private nextId = 0;
  private readonly pending = new Map<
    number,
    { resolve: (o: InferenceOutput) => void; reject: (e: Error) => void; dims: number[]; settled?: () => void }
  >();
  private exitError: Error | undefined;
  /** batch inputs the worker handed back, for the next batches (buffers.ts) */
  private readonly inputBuffers = new TransferPool();
  /** the colour table both threads look up (colour-table.ts), made at the first batch that uses it */
  private colourTable: ColourTable | undefined;
  /** shared memory of batches through the table: inputs, outputs, look-ups (each pool holds one size) */
  private readonly shared = { inputs: new SharedPool(), outputs: new SharedPool(), lookUps: new SharedPool() };
  /** batches sent through the table and not answered yet, oldest first */
  private readonly tableBatches: { batch: ChunkedLookUp; pixels: Uint8Array; out: Uint8Array }[] = [];

  private constructor(
    private readonly worker: Worker,
    readonly provider: string,
    readonly attempts: ProviderAttempt[],
    readonly inputs: TensorInfo[],
    readonly outputs: TensorInfo[],
    /** set when pixel I/O was asked for: whether the session takes pixels, and why not */
    readonly pixelIo: PixelIoState | undefined,
    /** what the session was wrapped for, when it was */
    private readonly pixelRequest?: PixelIoRequest,
  ) {
    worker.on('message', (m: WorkerMessage) => {
      if (m.type !== 'result' && m.type !== 'error') return;
      if (m.type === 'result' && m.input) this.inputBuffers.give(m.input);
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      p.settled?.();
      if (m.type === 'result') p.resolve({ data: m.data, dims: m.dims, coloursRun: m.coloursRun });
      else p.reject(new InferenceRunError(m.error, p.dims));
    });
    const failAll = (err: Error) => {
      this.exitError = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', failAll);
    // Whether or not batches are pending: a later run() must fail at once, not wait on a dead worker.
    worker.on('exit', (code) =>
      failAll(
        this.exitError ??
          new Error(
            `the inference worker exited (code ${code})${this.pending.size ? ` with ${this.pending.size} batch(es) pending` : ''}`,
          ),
      ),
    );
  }

  /**
   * Start a worker and open `modelPath` in it (wrapped for pixels when `pixelIo` is given and it can be); rejects
   * with every provider's error when none starts.
   */
  static start(modelPath: string, settings: SessionSettings, pixelIo?: PixelIoRequest): Promise<InferenceWorker> {
    const init: WorkerInit = { modelPath, ...settings, pixelIo };
    // read by the TensorRT provider from the process's environment when it builds its engine; set here, on the main
    // thread, where process.env writes reach the C environment (a worker's process.env is its own copy)
    if (settings.fp16 && settings.providers.includes('tensorrt')) process.env.ORT_TENSORRT_FP16_ENABLE = '1';
    const worker = spare ?? newWorker(init);
    if (spare) {
      spare = undefined;
      worker.ref();
      worker.postMessage({ type: 'init', init });
    }
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      const onExit = (code: number) =>
        reject(new Error(`the inference worker exited (code ${code}) before opening ${modelPath}`));
      worker.once('error', onError);
      worker.once('exit', onExit);
      worker.once('message', (m: WorkerMessage) => {
        worker.off('error', onError);
        worker.off('exit', onExit);
        if (m.type === 'ready') {
          resolve(
            new InferenceWorker(
              worker,
              m.provider,
              m.attempts,
              m.inputs as TensorInfo[],
              m.outputs as TensorInfo[],
              m.pixelIo,
              m.pixelIo?.used ? pixelIo : undefined,
            ),
          );
        } else if (m.type === 'failed') {
          void worker.terminate();
          reject(new Error(m.error));
        } else {
          void worker.terminate();
          reject(new Error(`the inference worker sent '${m.type}' before it was ready`));
        }
      });
    });
  }

  /**
   * Start the next start()'s thread now, without its model: Node's thread start and ONNX Runtime's load (~0.5 s)
   * then overlap what comes before the model opens (a batch process waiting for its first datum, reading the
   * card). Unreferenced until used, so it keeps no process alive.
   */
  static prewarm(): void {
    if (spare) return;
    const w = newWorker(undefined);
    w.unref();
    // a spare that fails to start is dropped; start() then makes a thread of its own
    const drop = () => {
      if (spare === w) spare = undefined;
    };
    w.once('error', drop);
    w.once('exit', drop);
    spare = w;
  }

  /**
   * Run one batch (float32, uint8 pixels, or uint16 block sums). `data`'s buffer is transferred to the worker: do
   * not use it afterwards.
   * `pixelwise`: uint8 NHWC pixels into a model that maps each pixel on its own, run as slabs of `rowsPerRun`
   * rows, and with `colourTable` only the colours the worker's table has not answered yet (colour-table.ts).
   */
  run(
    inputName: string,
    outputName: string,
    data: Float32Array | Uint8Array | Uint16Array,
    dims: number[],
    pixelwise?: { rowsPerRun: number; colourTable?: boolean },
  ): Promise<InferenceOutput> {
    if (this.exitError) return Promise.reject(this.exitError);
    // errors name the model's own input dims, and a wrapped model's fixed dims are checked here, as ORT would
    const req = data instanceof Float32Array ? undefined : this.pixelRequest;
    const modelDims = req ? modelInputDims(req, dims) : dims;
    if (req) {
      const problem = inputDimsProblem(
        this.inputs.find((i) => i.name === req.input.name),
        modelDims,
      );
      if (problem) return Promise.reject(new InferenceRunError(problem, modelDims));
    }
    const id = this.nextId++;
    if (pixelwise?.colourTable && data instanceof Uint8Array && dims[3] === 3)
      return this.runThroughTable(id, inputName, outputName, data, dims, pixelwise.rowsPerRun, modelDims);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, dims: modelDims });
      const req: RunRequest = { type: 'run', id, inputName, outputName, data, dims, rowsPerRun: pixelwise?.rowsPerRun };
      this.worker.postMessage(req, [data.buffer as ArrayBuffer]);
    });
  }

  /**
   * A batch of pixels through the colour table, sent with its shared memory; the worker looks it up, and this thread
   * takes a share of the look-ups while it waits (lookUpWhileWaiting). Returns when the worker has run the new
   * colours and filled the rest.
   */
  private runThroughTable(
    id: number,
    inputName: string,
    outputName: string,
    pixels: Uint8Array,
    dims: number[],
    rowsPerRun: number,
    modelDims: number[],
  ): Promise<InferenceOutput> {
    this.colourTable ??= new ColourTable();
    const { inputs, outputs, lookUps } = this.shared;
    let data = pixels;
    if (!(pixels.buffer instanceof SharedArrayBuffer) || pixels.byteLength !== pixels.buffer.byteLength) {
      data = new Uint8Array(inputs.take(pixels.byteLength));
      data.set(pixels);
    }
    const input = data.buffer as SharedArrayBuffer;
    const output = outputs.take(data.byteLength);
    const lookUp = lookUps.take(ChunkedLookUp.bufferBytes(data.byteLength));
    const batch = new ChunkedLookUp(lookUp, data.byteLength);
    batch.reset();
    const sent = { batch, pixels: data, out: new Uint8Array(output) };
    this.tableBatches.push(sent);
    return new Promise<InferenceOutput>((resolve, reject) => {
      // the output goes to the caller (recycle() gives it back); the rest is free once the worker answers
      const settled = () => {
        this.tableBatches.splice(this.tableBatches.indexOf(sent), 1);
        inputs.give(input);
        lookUps.give(lookUp);
      };
      this.pending.set(id, { resolve, reject, dims: modelDims, settled });
      const colourTable = { colours: this.colourTable!.buffer, lookUp, output };
      const req: RunRequest = { type: 'run', id, inputName, outputName, data, dims, rowsPerRun, colourTable };
      this.worker.postMessage(req);
    });
  }

  /**
   * Work for this thread while it would wait for the worker: look up chunks of the batches sent through the colour
   * table, the oldest first, until the oldest is answered or none is left to claim. Call it before awaiting a result.
   */
  lookUpWhileWaiting(): void {
    const oldest = this.tableBatches[0];
    if (!oldest || !this.colourTable) return;
    const answered = () => oldest.batch.finished();
    for (const { batch, pixels, out } of this.tableBatches) batch.lookUp(this.colourTable, pixels, out, answered);
  }

  /**
   * A buffer of `bytes` for a batch's input, one an earlier batch handed back when one fits (its old bytes still in
   * it: fill all of it). `shared`: shared memory, for a batch through the colour table (run's pixelwise.colourTable).
   */
  inputBuffer(bytes: number, shared?: false): ArrayBuffer;
  inputBuffer(bytes: number, shared: true): SharedArrayBuffer;
  inputBuffer(bytes: number, shared = false): ArrayBuffer | SharedArrayBuffer {
    return shared ? this.shared.inputs.take(bytes) : this.inputBuffers.take(bytes);
  }

  /** Gives an output's buffer back for a later batch's output; `out` must not be used afterwards. */
  recycle(out: InferenceOutput): void {
    if (out.data.buffer instanceof SharedArrayBuffer) {
      this.shared.outputs.give(out.data.buffer);
      return;
    }
    const buffer = wholeBuffer(out.data);
    if (!buffer || this.exitError) return;
    this.worker.postMessage({ type: 'recycle', buffer } satisfies RecycleRequest, [buffer]);
  }

  async close(): Promise<void> {
    this.worker.postMessage({ type: 'close' });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => void this.worker.terminate().then(() => resolve()), 5000);
      this.worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/**
 * Keep up to `depth` batches in the worker while the next ones are produced: with depth 2, batch k+1 is
 * decoded while batch k runs, and batch k's results are written while batch k+1 runs. Results are consumed
 * in order.
 */
export async function runOverlapped<B, R>(
  batches: AsyncIterable<B>,
  infer: (batch: B) => Promise<R>,
  consume: (batch: B, result: R) => Promise<void> | void,
  depth = 2,
  /** work this thread can do while it waits for the oldest batch's result (InferenceWorker.lookUpWhileWaiting) */
  whileWaiting?: () => void,
): Promise<void> {
  const inflight: { batch: B; result: Promise<R> }[] = [];
  const next = async () => {
    const first = inflight.shift()!;
    whileWaiting?.();
    await consume(first.batch, await first.result);
  };
  try {
    for await (const batch of batches) {
      const result = infer(batch);
      result.catch(() => {}); // awaited below, in order; avoid an unhandled rejection meanwhile
      inflight.push({ batch, result });
      if (inflight.length >= depth) await next();
    }
    while (inflight.length) await next();
  } finally {
    // Let batches still running settle before the caller closes the worker.
    await Promise.allSettled(inflight.map((f) => f.result));
  }
}
