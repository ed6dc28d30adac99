/**
 * The main thread's side of the inference worker: start it (a session with provider fallback), check nothing
 * blocks, send batches, get outputs back. Buffers move between threads without copies (transferred).
 */
import { closeSync, existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { TensorInfo } from './card.js';
import { inputDimsProblem, modelInputDims, type PixelIoRequest } from './pixel-io.js';
import type { ProviderAttempt, SessionSettings } from './providers.js';
import { SharedPool, TransferPool, wholeBuffer } from './buffers.js';
import { ChunkedLookUp } from './chunked-lookup.js';
import { ColourTable } from './colour-table.js';
import type {
  OptimizedGraph,
  PixelIoState,
  Ready,
  RecycleRequest,
  RunRequest,
  WorkerInit,
  WorkerMessage,
} from './worker.js';

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
const spares: Worker[] = [];

/** A batch sent and not answered yet: how to answer it, and the session it went to. */
interface Pending {
  resolve: (o: InferenceOutput) => void;
  reject: (e: Error) => void;
  dims: number[];
  session: Session;
  /** called once the thread has answered, before the caller hears of it */
  settled?: () => void;
  /** a warm-up batch: left out of the session's runs */
  uncounted?: boolean;
}

/** A thread and its session, as the main thread keeps count of it. */
interface Session {
  thread: Worker;
  /** batches sent and not answered yet */
  queued: number;
  /** batches sent since it joined */
  sent: number;
  /** tiles its thread has answered, and the seconds it spent on them (the session's runs) */
  tiles: number;
  runS: number;
}

/** A session's work as its thread timed it: tiles answered and seconds spent running them (InferenceWorker.runs). */
export interface SessionRuns {
  tiles: number;
  seconds: number;
}

/**
 * What each session ran between two readings of InferenceWorker.runs (a datum's loop, the model kept open across
 * datums), the sessions that ran nothing left out; `loopSeconds` gives `busy`, the sessions' seconds over the loop's:
 * about the session count when inference bounds the loop, less when the loop feeds them too slowly.
 */
export function sessionRunsBetween(
  before: SessionRuns[],
  after: SessionRuns[],
  loopSeconds: number,
): { runs: SessionRuns[]; busy: number } {
  const runs = after
    .map((a, i) => ({
      tiles: a.tiles - (before[i]?.tiles ?? 0),
      seconds: a.seconds - (before[i]?.seconds ?? 0),
    }))
    .filter((r) => r.tiles > 0);
  const busy = loopSeconds > 0 ? runs.reduce((t, r) => t + r.seconds, 0) / loopSeconds : 0;
  return { runs, busy };
}

/** Runs `loop` and says how long it took and what the worker's sessions ran meanwhile (sessionRunsBetween). */
export async function sessionsOver<T>(
  worker: InferenceWorker,
  loop: () => Promise<T>,
): Promise<{ result: T; seconds: number; runs: SessionRuns[]; busy: number }> {
  const before = worker.runs;
  const started = performance.now();
  const result = await loop();
  const seconds = (performance.now() - started) / 1000;
  return { result, seconds, ...sessionRunsBetween(before, worker.runs, seconds) };
}

/**
 * A loop's sessions for its log line: `session_runs` [tiles, seconds] per session that ran (joined order),
 * `inference_busy` (sessionRunsBetween) and `inference_tiles_per_s` (inferenceRate).
 */
export function inferenceLogFields(i: { runs: SessionRuns[]; busy: number }): Record<string, unknown> {
  const rate = inferenceRate(i.runs);
  return {
    session_runs: i.runs.map((r) => [r.tiles, Math.round(r.seconds * 1000) / 1000]),
    inference_busy: Math.round(i.busy * 100) / 100,
    ...(rate === undefined ? {} : { inference_tiles_per_s: Math.round(rate * 10) / 10 }),
  };
}

/**
 * The sessions' own rate over a loop: each session's tiles over its run seconds, summed (they run side by side);
 * what the loop would reach were inference all it did, to hold against the bare model's session.run. Undefined when
 * none ran.
 */
export function inferenceRate(runs: SessionRuns[]): number | undefined {
  const ran = runs.filter((r) => r.seconds > 0);
  return ran.length ? ran.reduce((t, r) => t + r.tiles / r.seconds, 0) : undefined;
}

/**
 * The sessions the settings ask for (SessionSettings.sessions), each on a thread of its own with its share of the
 * cores: the first opens the model, the others its optimized graph as soon as it is open, and join it. A batch goes
 * to the thread with the fewest batches queued, so each session runs batches whole and none waits on another's
 * threads. Batches through the colour table go to the first thread, where the table's learning is (normalize, one
 * session).
 */
export class InferenceWorker {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  /** the sessions, in the order they joined */
  private readonly all: Session[] = [];
  /** the index of the session the last batch went to (leastQueued) */
  private lastSent = -1;
  /** the sessions beside the first: joined (undefined), or why they did not open */
  private othersJoined: Promise<string | undefined> = Promise.resolve(undefined);
  private closed = false;
  /** which session made an output (its buffer goes back there: recycle) */
  private readonly madeBy = new WeakMap<ArrayBufferLike, Session>();
  private exitError: Error | undefined;
  /** batch inputs the threads handed back, for the next batches (buffers.ts) */
  private readonly inputBuffers = new TransferPool();
  /** the colour table both threads look up (colour-table.ts), made at the first batch that uses it */
  private colourTable: ColourTable | undefined;
  /** shared memory of batches through the table: inputs, outputs, look-ups (each pool holds one size) */
  private readonly shared = { inputs: new SharedPool(), outputs: new SharedPool(), lookUps: new SharedPool() };
  /** batches sent through the table and not answered yet, oldest first */
  private readonly tableBatches: { batch: ChunkedLookUp; pixels: Uint8Array; out: Uint8Array }[] = [];

  /** the first session's optimized graph, for the sessions beside it (closed once they have opened) */
  private optimized: (OptimizedGraph & { fd: number }) | undefined;
  private others: 'optimized graph' | 'model' | undefined;

  readonly provider: string;
  readonly attempts: ProviderAttempt[];
  readonly inputs: TensorInfo[];
  readonly outputs: TensorInfo[];
  /** set when pixel I/O was asked for: whether the session takes pixels, and why not */
  readonly pixelIo: PixelIoState | undefined;

  private constructor(
    first: Worker,
    ready: Ready,
    private readonly init: WorkerInit,
    /** what the session was wrapped for, when it was */
    private readonly pixelRequest?: PixelIoRequest,
    /** the first session's optimized graph, held open (heldGraph) */
    graph?: { path: string; fd: number },
  ) {
    this.provider = ready.provider;
    this.attempts = ready.attempts;
    this.inputs = ready.inputs as TensorInfo[];
    this.outputs = ready.outputs as TensorInfo[];
    this.pixelIo = ready.pixelIo;
    if (graph) this.optimized = { ...graph, inputs: this.inputs, outputs: this.outputs, pixelIo: this.pixelIo };
    this.join(first);
    if (this.sessionsAsked > 1) this.othersJoined = this.joinOthers().finally(() => this.dropOptimized());
  }

  private readonly failAll = (err: Error): void => {
    this.exitError ??= err;
    for (const p of this.pending.values()) p.reject(this.exitError);
    this.pending.clear();
  };

  /** A thread whose session is open takes batches from now on. */
  private join(thread: Worker): void {
    const session: Session = { thread, queued: 0, sent: 0, tiles: 0, runS: 0 };
    this.all.push(session);
    thread.on('message', (m: WorkerMessage) => {
      if (m.type !== 'result' && m.type !== 'error') return;
      if (m.type === 'result' && m.input) this.inputBuffers.give(m.input);
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      session.queued--;
      if (m.type === 'result' && !p.uncounted) {
        session.tiles += p.dims[0] ?? 0;
        session.runS += m.runS;
      }
      p.settled?.();
      if (m.type === 'result') {
        if (!(m.data.buffer instanceof SharedArrayBuffer)) this.madeBy.set(m.data.buffer, session);
        p.resolve({ data: m.data, dims: m.dims, coloursRun: m.coloursRun });
      } else p.reject(new InferenceRunError(m.error, p.dims));
    });
    thread.on('error', this.failAll);
    // Whether or not batches are pending: a later run() must fail at once, not wait on a dead worker.
    thread.on('exit', (code) => {
      if (this.closed) return;
      this.failAll(
        new Error(
          `the inference worker exited (code ${code})${this.pending.size ? ` with ${this.pending.size} batch(es) pending` : ''}`,
        ),
      );
    });
  }

  /** Sessions taking batches now. */
  get sessions(): number {
    return this.all.length;
  }

  /** Sessions the settings ask for. */
  get sessionsAsked(): number {
    return Math.max(1, this.init.sessions ?? 1);
  }

  /** What the sessions beside the first opened: its optimized graph, or the model; undefined before they join. */
  get othersFrom(): 'optimized graph' | 'model' | undefined {
    return this.others;
  }

  /** Every session's tiles answered and seconds spent running them since it joined, in the order they joined. */
  get runs(): SessionRuns[] {
    return this.all.map((s) => ({ tiles: s.tiles, seconds: s.runS }));
  }

  /** Batches sent to each session. */
  get batchesPerSession(): number[] {
    return this.all.map((s) => s.sent);
  }

  /**
   * Start a thread and open `modelPath` in it (wrapped for pixels when `pixelIo` is given and it can be); rejects
   * with every provider's error when none starts. Resolves once this first session is open: the others asked open
   * meanwhile and join when open (allOpen).
   */
  static async start(modelPath: string, settings: SessionSettings, pixelIo?: PixelIoRequest): Promise<InferenceWorker> {
    const saveOptimizedTo = (settings.sessions ?? 1) > 1 ? scratchGraphPath() : undefined;
    const init: WorkerInit = { modelPath, ...settings, pixelIo, saveOptimizedTo };
    // read by the TensorRT provider from the process's environment when it builds its engine; set here, on the main
    // thread, where process.env writes reach the C environment (a worker's process.env is its own copy)
    if (settings.fp16 && settings.providers.includes('tensorrt')) process.env.ORT_TENSORRT_FP16_ENABLE = '1';
    const thread = startThread(init);
    let opened: Ready;
    let graph: { path: string; fd: number } | undefined;
    try {
      opened = await ready(thread, modelPath);
      // there when ONNX Runtime wrote it (on CPU)
      if (saveOptimizedTo) graph = heldGraph(saveOptimizedTo);
    } catch (err) {
      await thread.terminate();
      throw err;
    } finally {
      removeScratchGraph(saveOptimizedTo);
    }
    return new InferenceWorker(thread, opened, init, opened.pixelIo?.used ? pixelIo : undefined, graph);
  }

  /**
   * Resolves once the sessions asked beside the first have joined (undefined), or with why one did not open: then
   * none joins and the first serves alone.
   */
  allOpen(): Promise<string | undefined> {
    return this.othersJoined;
  }

  private dropOptimized(): void {
    if (this.optimized) closeSync(this.optimized.fd);
    this.optimized = undefined;
  }

  /**
   * Opens the sessions asked beside the first on the provider it runs on, with the same share of the cores, from its
   * optimized graph when it wrote one (without the model's read, wrap and optimization); they join together.
   */
  private async joinOthers(): Promise<string | undefined> {
    const init: WorkerInit = {
      ...this.init,
      providers: [this.provider],
      saveOptimizedTo: undefined,
      optimized: this.optimized,
    };
    const opened = Array.from({ length: this.sessionsAsked - 1 }, () => startThread(init));
    const answers = await Promise.allSettled(opened.map((t) => ready(t, init.modelPath)));
    // closed meanwhile (close() waits for this): the threads end as the joined ones do, nothing to say
    if (this.closed) {
      await Promise.all(opened.map(stop));
      return undefined;
    }
    // a session that takes other tensors than the first's cannot share its batches
    const why = answers
      .map((a) =>
        a.status === 'rejected'
          ? (a.reason as Error).message
          : a.value.pixelIo?.used !== this.pixelIo?.used
            ? `it opened ${a.value.pixelIo?.used ? 'with' : 'without'} pixel input, unlike the first`
            : (a.value.pixelIo?.pooled?.used ?? false) !== (this.pixelIo?.pooled?.used ?? false)
              ? `it opened ${a.value.pixelIo?.pooled?.used ? 'pooling' : 'not pooling'} its map, unlike the first`
              : undefined,
      )
      .find((w) => w !== undefined);
    if (why !== undefined) {
      await Promise.all(opened.map(stop));
      return why;
    }
    this.others = answers.every((a) => a.status === 'fulfilled' && a.value.openedGraph) ? 'optimized graph' : 'model';
    for (const t of opened) this.join(t);
    return undefined;
  }

  /**
   * Start the next start()'s thread now, without its model: Node's thread start and ONNX Runtime's load (~0.5 s)
   * then overlap what comes before the model opens (a batch process waiting for its first datum, reading the
   * card). Unreferenced until used, so it keeps no process alive.
   */
  static prewarm(): void {
    if (spares.length) return;
    const w = newWorker(undefined);
    w.unref();
    // a spare that fails to start is dropped; start() then makes a thread of its own
    const drop = () => {
      const i = spares.indexOf(w);
      if (i >= 0) spares.splice(i, 1);
    };
    w.once('error', drop);
    w.once('exit', drop);
    spares.push(w);
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
    /** uncounted: a warm-up batch, left out of `runs` (a datum's loop would count it as its own) */
    o: { uncounted?: boolean } = {},
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
      const req: RunRequest = { type: 'run', id, inputName, outputName, data, dims, rowsPerRun: pixelwise?.rowsPerRun };
      const answer = { resolve, reject, dims: modelDims, uncounted: o.uncounted };
      this.send(this.leastQueued(), req, answer, [data.buffer as ArrayBuffer]);
    });
  }

  /** A request to `session`'s thread, answered through `pending` (the thread's message handler settles it). */
  private send(
    session: Session,
    req: RunRequest,
    answer: Omit<Pending, 'session'>,
    transfer: ArrayBuffer[] = [],
  ): void {
    this.pending.set(req.id, { ...answer, session });
    session.queued++;
    session.sent++;
    session.thread.postMessage(req, transfer);
  }

  /**
   * The thread with the fewest batches queued; of several, the next in turn after the last one sent to. Results are
   * taken in order, oldest first, so a tie broken always the same way can queue two batches on one thread while the
   * other runs dry.
   */
  private leastQueued(): Session {
    const n = this.all.length;
    let best = -1;
    for (let i = 1; i <= n; i++) {
      const t = (this.lastSent + i) % n;
      if (best < 0 || this.all[t].queued < this.all[best].queued) best = t;
    }
    this.lastSent = best;
    return this.all[best];
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
      const colourTable = { colours: this.colourTable!.memory, lookUp, output };
      const req: RunRequest = { type: 'run', id, inputName, outputName, data, dims, rowsPerRun, colourTable };
      // the table learns in the first thread's session
      this.send(this.all[0], req, { resolve, reject, dims: modelDims, settled });
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
    const made = this.madeBy.get(buffer) ?? this.all[0];
    made.thread.postMessage({ type: 'recycle', buffer } satisfies RecycleRequest, [buffer]);
  }

  async close(): Promise<void> {
    this.closed = true;
    // a thread still opening its session is inside ONNX Runtime: ended then (terminate), it aborted the whole process
    // (a Napi::Error thrown while its environment was torn down: a datum of a few tiles, done before the second
    // session opened, then failed after its outputs were written). joinOthers ends those threads once they answer.
    await this.othersJoined;
    this.dropOptimized();
    await Promise.all(this.all.map((s) => stop(s.thread)));
  }
}

/**
 * A path for the first session's optimized graph, in a scratch folder of its own (ONNX Runtime writes the graph only
 * to a file); undefined where heldGraph cannot hold it, or no folder can be made.
 */
function scratchGraphPath(): string | undefined {
  if (!existsSync('/proc/self/fd')) return undefined;
  try {
    return join(mkdtempSync(join(tmpdir(), 'tessella-graph-')), 'optimized.onnx');
  } catch {
    return undefined; // no writable scratch: the sessions beside the first open the model themselves
  }
}

/**
 * The graph at `path`, when there is one, held open, and a path that opens it once its folder is gone: the folder is
 * removed as soon as the first session is open, so that a process killed later (the engine ends its processes with
 * SIGKILL) leaves nothing behind. On Linux /proc/self/fd/N opens the file anew, with its own offset, for each session
 * beside the first.
 */
function heldGraph(path: string): { path: string; fd: number } | undefined {
  try {
    const fd = openSync(path, 'r');
    return { path: `/proc/self/fd/${fd}`, fd };
  } catch {
    return undefined;
  }
}

function removeScratchGraph(path: string | undefined): void {
  if (path) rmSync(dirname(path), { recursive: true, force: true });
}

/** A thread for `init`: one started ahead (prewarm) when there is one, else a new one. */
function startThread(init: WorkerInit): Worker {
  const spare = spares.shift();
  if (!spare) return newWorker(init);
  spare.ref();
  spare.postMessage({ type: 'init', init });
  return spare;
}

/** Asks a thread to release its session and end; terminated if it has not within 5 s. */
function stop(thread: Worker): Promise<void> {
  // a thread that has ended already (its session failed to open) says nothing more
  if (thread.threadId === -1) return Promise.resolve();
  thread.postMessage({ type: 'close' });
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => void thread.terminate().then(() => resolve()), 5000);
    thread.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The thread's first message: its session opened (its provider, tensors, pixel I/O), or why not. */
function ready(thread: Worker, modelPath: string): Promise<Ready> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    const onExit = (code: number) =>
      reject(new Error(`the inference worker exited (code ${code}) before opening ${modelPath}`));
    thread.once('error', onError);
    thread.once('exit', onExit);
    thread.once('message', (m: WorkerMessage) => {
      thread.off('error', onError);
      thread.off('exit', onExit);
      if (m.type === 'ready') resolve(m);
      else if (m.type === 'failed') reject(new Error(m.error));
      else reject(new Error(`the inference worker sent '${m.type}' before it was ready`));
    });
  });
}

/** How runOverlapped keeps its batches moving. */
export interface OverlapOptions {
  /** batches in the worker at once: a number, or asked before each batch (an InferenceWorker's sessions join as they open) */
  depth?: number | (() => number);
  /** work this thread can do while it waits for the oldest batch's result (InferenceWorker.lookUpWhileWaiting) */
  whileWaiting?: () => void;
  /**
   * Ask for the next batch as soon as one arrives, so that it is produced while this one is sent and the oldest
   * consumed: for batches made off this thread (JPEG tiles decoding on libuv's threads). Batches made on this thread
   * gain nothing, and hold one more batch's buffers.
   */
  prefetch?: boolean;
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
  { depth = 2, whileWaiting, prefetch = false }: OverlapOptions = {},
): Promise<void> {
  const inflight: { batch: B; result: Promise<R> }[] = [];
  const next = async () => {
    const first = inflight.shift()!;
    whileWaiting?.();
    await consume(first.batch, await first.result);
  };
  const source = batches[Symbol.asyncIterator]();
  try {
    let coming = source.next();
    for (;;) {
      coming.catch(() => {}); // awaited below; avoid an unhandled rejection meanwhile
      const got = await coming;
      if (got.done) break;
      const batch = got.value;
      if (prefetch) coming = source.next();
      const result = infer(batch);
      result.catch(() => {}); // awaited below, in order; avoid an unhandled rejection meanwhile
      inflight.push({ batch, result });
      while (inflight.length >= (typeof depth === 'number' ? depth : depth())) await next();
      if (!prefetch) coming = source.next();
    }
    while (inflight.length) await next();
  } finally {
    // a source left early (an error) closes its file; a batch asked for ahead is made first
    await source.return?.(undefined)?.catch(() => {});
    // Let batches still running settle before the caller closes the worker.
    await Promise.allSettled(inflight.map((f) => f.result));
  }
}
