/**
 * A job's queue of datums to run, served by as many workers as the pipeline has slots, each datum run by the
 * worker's executor (a process per datum, or one batching process per slot) and counted as it ends.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../shared/log.js';
import type { Store } from '../store/store.js';
import { BatchWorker, batchingEnabled } from '../worker/batch-executor.js';
import { active } from '../worker/children.js';
import { runDatum } from '../worker/run-datum.js';
import { scratchRemovals } from '../worker/scratch.js';
import type { DatumContext } from '../worker/context.js';
import { ProcessExecutor } from '../worker/process-executor.js';
import { isolation } from '../worker/sandbox.js';
import type { WarmWorkers } from '../worker/warm-workers.js';
import { workingDirFor } from '../worker/working-dir.js';
import type { JobProgress } from './job-progress.js';
import type { JobResult } from './job-result.js';
import type { JobRow } from './jobs.js';
import type { QueuedDatum } from './plan-changes.js';
import { type DatumSlots, slotsFor } from './slots.js';
import { parseDurationSeconds, type PipelineSpec } from './spec/pipeline-spec.js';

/** Runs the queued datums, as many at once as the pipeline's slots. */
export async function executeDatums(
  store: Store,
  spec: PipelineSpec,
  job: JobRow,
  queue: QueuedDatum[],
  result: JobResult,
  progress: JobProgress,
  log: Logger,
  machine: DatumSlots,
  warm?: WarmWorkers,
): Promise<void> {
  const slots = slotsFor(spec);
  const ctx: DatumContext = {
    store,
    spec,
    job,
    tries: spec.datumTries ?? 3,
    timeoutS: spec.datumTimeout ? parseDurationSeconds(spec.datumTimeout) : undefined,
    workingDir: workingDirFor(spec),
    logDir: join(store.logsDir, job.pipeline, job.id),
  };
  if (queue.length) mkdirSync(ctx.logDir, { recursive: true });
  let next = 0;
  const batching = spec.transform.datumBatching === true && batchingEnabled();
  const worker = async (gpus: string[]) => {
    // datum batching: one process per slot serves its datums in turn (worker/batch-executor.ts), maybe started ahead
    let batch: BatchWorker | undefined;
    if (batching && next < queue.length) {
      batch = warm?.take(job.pipeline, job.version, gpus) ?? new BatchWorker(ctx, gpus, isolation());
      batch.serve(ctx);
    }
    try {
      await serveQueue(gpus, batch);
    } finally {
      await batch?.close();
    }
  };
  const serveQueue = async (gpus: string[], batch: BatchWorker | undefined) => {
    // after a fault every datum would share, no datum is taken: the job fails with it (worker/job-wide-fault.ts)
    while (next < queue.length && !active.interrupted && !result.halted) {
      const item = queue[next++];
      const release = await machine.take(gpus);
      let r;
      try {
        r = await runDatum(ctx, item.datum, batch ?? new ProcessExecutor(ctx, gpus, isolation()));
      } finally {
        release();
      }
      if (r.ok) {
        result.processed++;
        progress.update('processed');
      } else {
        result.failed++;
        result.failures.push({ datum: item.datum.id, log: r.log, error: r.error });
        if (r.jobWide && !result.halted) {
          result.halted = { datum: item.datum.id, log: r.log, error: r.error, cause: r.jobWide, notRun: 0 };
        }
        progress.update('failed');
        log.error('datum failed', {
          pipeline: job.pipeline,
          job: job.id,
          datum: item.datum.id,
          error: r.error,
          log: r.log,
        });
      }
    }
  };
  await Promise.all(slots.map((g) => worker(g)));
  if (result.halted) result.halted.notRun = queue.length - next;
  await scratchRemovals();
}
