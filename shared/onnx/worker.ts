/**
 * The inference worker thread: owns one ONNX Runtime session so `session.run` (which blocks its thread) never
 * stalls the stage's event loop; the main thread decodes the next batch meanwhile. Messages: see inference.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { openSession, ProviderError, tensorInfos, type SessionSettings } from './providers.js';

export interface WorkerInit extends SessionSettings {
  modelPath: string;
}
export interface RunRequest {
  type: 'run';
  id: number;
  inputName: string;
  outputName: string;
  data: Float32Array;
  dims: number[];
}
export type WorkerMessage =
  | {
      type: 'ready';
      provider: string;
      attempts: { provider: string; error?: string }[];
      inputs: unknown[];
      outputs: unknown[];
    }
  | { type: 'failed'; error: string; attempts: { provider: string; error?: string }[] }
  | { type: 'result'; id: number; data: Float32Array; dims: number[] }
  | { type: 'error'; id: number; error: string };

const port = parentPort!;
const init = workerData as WorkerInit;

async function start(): Promise<void> {
  let opened;
  try {
    opened = await openSession(init.modelPath, init);
  } catch (err) {
    const attempts = err instanceof ProviderError ? err.attempts : [];
    port.postMessage({ type: 'failed', error: (err as Error).message, attempts } satisfies WorkerMessage);
    return;
  }
  const { session, provider, attempts } = opened;
  port.postMessage({
    type: 'ready',
    provider,
    attempts,
    inputs: tensorInfos(session.inputMetadata),
    outputs: tensorInfos(session.outputMetadata),
  } satisfies WorkerMessage);

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
        const feeds = { [req.inputName]: new ort.Tensor('float32', req.data, req.dims) };
        const results = await session.run(feeds, [req.outputName]);
        const out = results[req.outputName];
        const dims = [...out.dims];
        const raw = out.data as Float32Array;
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

void start();
