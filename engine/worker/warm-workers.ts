/**
 * Batch processes started ahead of their jobs. While a pipeline's job runs, the pipelines that read it and batch
 * their datums will most likely run next; their first slot's process is started now, so Node's start and the
 * stage's imports (~0.4 s each here) happen beside the upstream job instead of on the path after it. The job takes
 * the process when it starts (same pipeline version, same GPUs); one nobody took is killed when `tessella run` ends.
 */
import type { BatchWorker } from './batch-executor.js';
import type { PipelineSpec } from '../pps/spec/pipeline-spec.js';

export class WarmWorkers {
  private readonly idle = new Map<string, BatchWorker>();

  /** `make`: a worker for a pipeline's first slot, not yet started. */
  constructor(private readonly make: (spec: PipelineSpec) => BatchWorker) {}

  /** Starts a process for each of `specs` (at `version`) that has none waiting. */
  prestart(specs: { spec: PipelineSpec; version: number }[]): void {
    for (const { spec, version } of specs) {
      const key = `${spec.pipeline.name}@${version}`;
      if (this.idle.has(key)) continue;
      const w = this.make(spec);
      w.prestart();
      this.idle.set(key, w);
    }
  }

  /** The waiting process of this pipeline version on these GPUs, taken out of the pool; else undefined. */
  take(pipeline: string, version: number, gpus: string[]): BatchWorker | undefined {
    const key = `${pipeline}@${version}`;
    const w = this.idle.get(key);
    if (!w || w.gpus.join(',') !== gpus.join(',')) return undefined;
    this.idle.delete(key);
    return w;
  }

  /** Kills the processes no job took. */
  async close(): Promise<void> {
    const left = [...this.idle.values()];
    this.idle.clear();
    await Promise.all(left.map((w) => w.close()));
  }
}
