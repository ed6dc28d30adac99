/**
 * Batch processes started ahead of their jobs, as Pachyderm's pipeline workers are up before a job comes. When a
 * `tessella run` has jobs to run, every batching pipeline that is due or lies below a due or running one will most
 * likely get a job in it; their first slot's process is started now, so Node's start, the stage's imports and a
 * model stage's runtime load (~0.3-0.6 s of CPU each here) happen while the pipelines above them still run,
 * instead of on the path after them. They start in DAG order, at most one per core at a time, so the first jobs'
 * processes are not slowed by the last ones'. A job takes its process when it starts (same pipeline version, same
 * GPUs), started or still queued; one nobody took is killed when `tessella run` ends.
 */
import { availableParallelism } from 'node:os';
import type { BatchWorker } from './batch-executor.js';
import type { PipelineSpec } from '../pps/spec/pipeline-spec.js';

export class WarmWorkers {
  private readonly idle = new Map<string, BatchWorker>();
  /** made, not started yet, in the order asked */
  private readonly queued: BatchWorker[] = [];
  private startingNow = 0;

  /**
   * `make`: a worker for a pipeline's first slot, not yet started. `atOnce`: processes starting at the same time
   * (a start is mostly one core's work).
   */
  constructor(
    private readonly make: (spec: PipelineSpec) => BatchWorker,
    private readonly atOnce = availableParallelism(),
  ) {}

  /** Queues a process for each of `specs` (at `version`, in the order given) that has none waiting. */
  prestart(specs: { spec: PipelineSpec; version: number }[]): void {
    for (const { spec, version } of specs) {
      const key = `${spec.pipeline.name}@${version}`;
      if (this.idle.has(key)) continue;
      const w = this.make(spec);
      this.idle.set(key, w);
      this.queued.push(w);
    }
    this.startQueued();
  }

  /**
   * The waiting process of this pipeline version on these GPUs, taken out of the pool (a queued one is started
   * by its job); else undefined.
   */
  take(pipeline: string, version: number, gpus: string[]): BatchWorker | undefined {
    const key = `${pipeline}@${version}`;
    const w = this.idle.get(key);
    if (!w || w.gpus.join(',') !== gpus.join(',')) return undefined;
    this.idle.delete(key);
    const at = this.queued.indexOf(w);
    if (at >= 0) this.queued.splice(at, 1);
    return w;
  }

  /** Kills the processes no job took. */
  async close(): Promise<void> {
    this.queued.length = 0;
    const left = [...this.idle.values()];
    this.idle.clear();
    await Promise.all(left.map((w) => w.close()));
  }

  private startQueued(): void {
    while (this.startingNow < this.atOnce && this.queued.length) {
      const w = this.queued.shift()!;
      this.startingNow++;
      void w.prestart().finally(() => {
        this.startingNow--;
        this.startQueued();
      });
    }
  }
}
