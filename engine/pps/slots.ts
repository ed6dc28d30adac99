/**
 * The machine's datum slots, shared by every job `tessella run` has running at once: CPU datums take one of the
 * cores (TESSELLA_MAX_PARALLEL, default every core), GPU datums the GPUs their slot owns, one datum per GPU.
 */
import { availableParallelism } from 'node:os';
import { engineEnv } from '../env.js';
import { gpuIds } from './gpus.js';
import type { PipelineSpec } from './spec/pipeline-spec.js';

class Semaphore {
  private waiting: (() => void)[] = [];
  constructor(private free: number) {}
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

export class DatumSlots {
  private readonly cpu: Semaphore;
  private readonly gpus = new Map<string, Semaphore>();

  constructor(cores = engineEnv().TESSELLA_MAX_PARALLEL ?? availableParallelism()) {
    this.cpu = new Semaphore(Math.max(1, cores));
  }

  /** Waits for a slot for a datum on `gpus` (none: a CPU datum); returns its release. */
  async take(gpus: string[]): Promise<() => void> {
    if (!gpus.length) {
      await this.cpu.acquire();
      return () => this.cpu.release();
    }
    // in id order, so two datums wanting overlapping GPUs cannot each hold one the other waits for
    const locks = [...gpus].sort().map((g) => {
      let s = this.gpus.get(g);
      if (!s) this.gpus.set(g, (s = new Semaphore(1)));
      return s;
    });
    for (const l of locks) await l.acquire();
    return () => {
      for (const l of locks) l.release();
    };
  }
}

/** How many datums of a pipeline run at once, and the GPU ids each slot owns (none for CPU pipelines). */
export function slotsFor(spec: PipelineSpec): string[][] {
  const cap = engineEnv().TESSELLA_MAX_PARALLEL ?? availableParallelism();
  const want = Math.max(1, spec.parallelismSpec?.constant || 1);
  const gpu = spec.resourceLimits?.gpu as { number?: number } | undefined;
  const perDatum = gpu ? Math.max(0, Number(gpu.number ?? 1)) : 0;
  if (perDatum > 0) {
    const ids = gpuIds();
    const n = Math.max(1, Math.min(want, Math.floor(ids.length / perDatum)));
    return Array.from({ length: n }, (_, i) => ids.slice(i * perDatum, (i + 1) * perDatum));
  }
  return Array.from({ length: Math.min(want, cap) }, () => []);
}
