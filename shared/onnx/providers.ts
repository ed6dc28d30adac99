/**
 * Execution providers by preference. ONNX Runtime does not fall back by itself when a provider is listed but
 * cannot start (no CUDA libraries, no GPU): try each alone, catch, go on, and report what ran and why not the rest.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { TensorInfo } from './card.js';

export const KNOWN_PROVIDERS = ['cuda', 'tensorrt', 'webgpu', 'dml', 'coreml', 'cpu'] as const;
export const DEFAULT_PROVIDERS = ['cuda', 'cpu'];

export interface SessionSettings {
  /** Providers in order of preference. */
  providers: string[];
  /** 0: on CPU, each session's share of every core (cpuThreadsPerSession); elsewhere ONNX Runtime's default. */
  intraOpThreads: number;
  interOpThreads: number;
  /**
   * Sessions of the model side by side (default 1), each with `intraOpThreads`, or when that is 0 on CPU its share
   * of the cores (cpuThreadsPerSession): the first opens, the others open from its optimized graph and join it
   * (InferenceWorker.start). See defaultSessions.
   */
  sessions?: number;
  /**
   * Whether ORT's idle pool threads spin-wait for the next parallel section (its default) instead of sleeping.
   * Off by default on CPU: spinning threads take the cores from the stage's tile decoding and encoding.
   */
  spinning?: boolean;
  /** Run a float32 model in half precision where the provider allows it (halfPrecisionOf). */
  fp16?: boolean;
}

/**
 * How a float32 model runs under the `fp16` setting on `provider`: ONNX Runtime's Node binding passes no provider
 * options but a device id, so only TensorRT, which reads ORT_TENSORRT_FP16_ENABLE from the environment, can build a
 * half-precision engine; CUDA and CPU run the graph in the types it declares.
 */
export function halfPrecisionOf(provider: string): { applied: true; how: string } | { applied: false; why: string } {
  if (provider === 'tensorrt')
    return { applied: true, how: 'TensorRT builds its engine with float16 kernels (ORT_TENSORRT_FP16_ENABLE=1)' };
  return {
    applied: false,
    why:
      `ONNX Runtime's ${provider} provider runs a model in the types its graph declares (the Node binding has no ` +
      `half-precision switch for it): running float32. For half precision on CUDA, export the model in float16 ` +
      `(scripts/export_models.py --dtype float16) or list tensorrt first in EXECUTION_PROVIDERS`,
  };
}

export interface ProviderAttempt {
  provider: string;
  error?: string;
}

export interface OpenedSession {
  session: ort.InferenceSession;
  provider: string;
  attempts: ProviderAttempt[];
}

export class ProviderError extends Error {
  constructor(
    message: string,
    readonly attempts: ProviderAttempt[],
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

export function checkProviders(providers: string[]): string[] {
  if (!providers.length) throw new Error('EXECUTION_PROVIDERS: expected at least one provider, e.g. cuda,cpu');
  for (const p of providers) {
    if (!(KNOWN_PROVIDERS as readonly string[]).includes(p)) {
      throw new Error(`EXECUTION_PROVIDERS: unknown provider '${p}'; known: ${KNOWN_PROVIDERS.join(', ')}`);
    }
  }
  return providers;
}

/**
 * A session's graph kept for the sessions opened beside it: the first, opened on CPU, writes its optimized graph to
 * `saveTo`; a later one opens such a file as it is (`optimized`). ONNX Runtime's optimizations of B0 cost ~0.1 s of
 * CPU a session, its read and wrap another ~0.15 s; a saved graph opens in ~0.02 s, computing the same bits.
 */
export interface GraphReuse {
  saveTo?: string;
  optimized?: boolean;
}

function sessionOptions(
  provider: string,
  s: SessionSettings,
  reuse: GraphReuse = {},
): ort.InferenceSession.SessionOptions {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: [provider],
    graphOptimizationLevel: reuse.optimized ? 'disabled' : 'all',
  };
  // the graph at 'all' holds CPU-specific layouts (NCHWc): it is only written for sessions of this process on this
  // CPU, where ORT's warning that says so (on every save) is noise
  if (provider === 'cpu' && reuse.saveTo)
    Object.assign(options, { optimizedModelFilePath: reuse.saveTo, logSeverityLevel: 3 });
  const intra = s.intraOpThreads > 0 ? s.intraOpThreads : provider === 'cpu' ? cpuThreadsPerSession(s.sessions) : 0;
  if (intra > 0) options.intraOpNumThreads = intra;
  if (s.interOpThreads > 0) options.interOpNumThreads = s.interOpThreads;
  // On CPU, ORT's memory pattern plans one block per input shape from the first runs: a slide's few batches pay
  // for tracing and paging it in (cold B0 batches took 50-60 ms of CPU per tile with it, 30-37 without; warm alike).
  if (provider === 'cpu') options.enableMemPattern = false;
  if (provider === 'cpu' && !s.spinning) {
    options.extra = { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } };
  }
  return options;
}

/**
 * Why a provider cannot start here, known without trying, or undefined. CUDA and TensorRT load ONNX Runtime's
 * provider libraries from onnxruntime-node's binding folder, which an install with ONNXRUNTIME_NODE_INSTALL=skip
 * (every CPU machine) does not have: trying costs ~0.1 s and an error in every datum's log.
 */
export function providerMissing(provider: string): string | undefined {
  if (provider !== 'cuda' && provider !== 'tensorrt') return undefined;
  if (process.platform !== 'linux' && process.platform !== 'win32') return undefined;
  let dir: string;
  try {
    const pkg = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
    dir = join(dirname(pkg), 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return undefined; // let ONNX Runtime say
  }
  const lib = process.platform === 'win32' ? 'onnxruntime_providers_shared.dll' : 'libonnxruntime_providers_shared.so';
  if (existsSync(join(dir, lib))) return undefined;
  return `onnxruntime-node has no GPU provider libraries (${join(dir, lib)} is missing: it was installed with ONNXRUNTIME_NODE_INSTALL=skip; the GPU image installs them with cuda12)`;
}

/**
 * The provider a session of these settings will run on, as far as is known before opening one: the first listed
 * that is not missing here (one that is present may still fail to open a model; openSession then goes on).
 */
export function expectedProvider(providers: string[]): string | undefined {
  return checkProviders(providers).find((p) => !providerMissing(p));
}

/** Open a model (a path, or its bytes with `label` to name it) with the first provider that starts. */
export async function openSession(
  model: string | Uint8Array,
  settings: SessionSettings,
  label = typeof model === 'string' ? model : 'the model',
  reuse?: GraphReuse,
): Promise<OpenedSession> {
  const attempts: ProviderAttempt[] = [];
  for (const provider of checkProviders(settings.providers)) {
    const missing = providerMissing(provider);
    if (missing) {
      attempts.push({ provider, error: missing });
      continue;
    }
    try {
      const options = sessionOptions(provider, settings, reuse);
      // two overloads (a path, bytes): a union argument matches neither
      const session =
        typeof model === 'string'
          ? await ort.InferenceSession.create(model, options)
          : await ort.InferenceSession.create(model, options);
      attempts.push({ provider });
      return { session, provider, attempts };
    } catch (err) {
      attempts.push({ provider, error: firstLine((err as Error).message) });
    }
  }
  const why = attempts.map((a) => `${a.provider}: ${a.error}`).join('; ');
  throw new ProviderError(`${label}: no execution provider could open the model (${why})`, attempts);
}

/**
 * CPU inference threads when unset: every core. Tile decoding and encoding (libvips on libuv's threads) take
 * the cores while a batch is being filled or written, and ORT's threads, which do not spin (see `spinning`),
 * leave them free meanwhile; cores - 1 left a core idle whenever no tile was being decoded or encoded, most of a
 * batch's time (scripts/bench/e2e.ts compares both: its `main` config runs cores - 1).
 */
export function defaultCpuThreads(): number {
  return availableParallelism();
}

/** A CPU session's intra-op threads when the settings leave them to us: its share of every core, at least one. */
export function cpuThreadsPerSession(sessions = 1): number {
  return Math.max(1, Math.floor(defaultCpuThreads() / Math.max(1, sessions)));
}

function firstLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim()) ?? text;
  return line.length > 400 ? line.slice(0, 400) + '...' : line;
}

export function tensorInfos(metadata: readonly ort.InferenceSession.ValueMetadata[]): TensorInfo[] {
  return metadata.map((m) =>
    m.isTensor
      ? { name: m.name, isTensor: true, type: String(m.type), shape: [...m.shape] }
      : { name: m.name, isTensor: false, shape: [] },
  );
}

/**
 * embed's sessions side by side when the user gives none. On CPU a feature model runs as two sessions of half the
 * cores each: one session's threads meet at the end of every parallel section of every node, and a thread
 * the stage's own work holds off its core makes the other wait there; two sessions each run a batch alone, so they
 * keep the cores busy. B0 at batch 8 in the stage, on 2 cores, alternated: 185-211 tiles/s against 165-183 with one
 * session of both cores, at 9.3-10.3 against 10.2-11.4 ms of CPU a tile (the same vectors, bit for bit). The second
 * opens the first's optimized graph (InferenceWorker). On a GPU, one session.
 */
export function defaultSessions(providers: string[]): number {
  // an unknown name is left for the open to refuse, with the datum
  const first = providers.find((p) => (KNOWN_PROVIDERS as readonly string[]).includes(p) && !providerMissing(p));
  return first === 'cpu' && defaultCpuThreads() >= 2 ? 2 : 1;
}

/**
 * Batch size when the user gives none: small on CPU, larger on GPUs. On CPU a batch's activations should stay in the
 * caches and be paged in once: StainNet at 448, batch 32 needs ~4 GB; B0 at batch 32 took 3-4x the CPU per tile of
 * batch 8, and at batch 4 two sessions side by side ran 4-8% faster than at 8 (bare and in the stage, alternated;
 * batch 2 the same as 4, batch 1 slower), each session's memory half as large (~60 MB less). The vectors are the
 * same at any batch size, bit for bit.
 */
export function defaultBatchSize(task: 'normalize' | 'embed', provider: string): number {
  const gpu = provider !== 'cpu';
  if (task === 'normalize') return gpu ? 32 : 8;
  return gpu ? 128 : 4;
}
