/**
 * The scheduler (Pachyderm's PPS master on one machine): which due job starts when, in DAG order, independent
 * pipelines at once. A job computes its datums over frozen input commits; a datum whose hash succeeded in the last
 * successful job is skipped and its output reused; the others run on the worker (engine/worker/). When every
 * datum succeeded and no two datums wrote the same path, the job's output commit (id = job id) is made in the same
 * transaction that marks the job successful, recording its input commits (provenance): job-run.ts, output-commit.ts.
 */
import { createLogger, type Logger } from '../../shared/log.js';
import type { Store } from '../store/store.js';
import { BatchWorker, batchingEnabled } from '../worker/batch-executor.js';
import { active } from '../worker/children.js';
import { isolation } from '../worker/sandbox.js';
import { WarmWorkers } from '../worker/warm-workers.js';
import { workingDirFor } from '../worker/working-dir.js';
import { downstreamOf, upstreamOf } from './dag.js';
import type { JobResult } from './job-result.js';
import { runJob } from './job-run.js';
import { dueOf, duePipelines } from './jobs.js';
import { orderedPipelines } from './pipelines.js';
import { DatumSlots, slotsFor } from './slots.js';

export interface RunOptions {
  log?: Logger;
  /** milliseconds to wait for another process running jobs (default: TESSELLA_LOCK_TIMEOUT or 10 s) */
  waitMs?: number;
  /** called for each job as it finishes */
  onJob?: (r: JobResult) => void;
}

/**
 * Runs every due job until nothing is due (a pipeline whose job fails is not retried in the same call). Jobs of
 * pipelines that do not read each other run at once (embed beside histogram, merge-assign beside the tile
 * stages), their datums sharing the machine's slots (slots.ts); a pipeline waits while any pipeline it reads,
 * directly or not, has a job running or due, so each job sees its inputs' newest commits, as in DAG order.
 * Results come back in the order the jobs started. Holds the store's runner claim meanwhile.
 */
export async function runJobs(store: Store, opts: RunOptions = {}): Promise<JobResult[]> {
  const log = opts.log ?? createLogger('tessella');
  await store.acquireRunner('tessella run', opts.waitMs, (m) => log.info(m));
  const results: (JobResult | undefined)[] = []; // in start order; a place is filled when its job ends
  const failed = new Set<string>();
  const running = new Map<string, Promise<void>>();
  const slots = new DatumSlots();
  const warm = new WarmWorkers(
    (spec) => new BatchWorker({ store, spec, workingDir: workingDirFor(spec) }, slotsFor(spec)[0], isolation()),
  );
  try {
    store.cleanScratch();
    for (;;) {
      if (!active.interrupted) {
        const ordered = orderedPipelines(store);
        const specs = ordered.map((p) => p.spec);
        const due = duePipelines(store).filter((d) => !failed.has(d.row.name) && !running.has(d.row.name));
        const waiting = new Set([...running.keys(), ...due.map((d) => d.row.name)]);
        const belowWaiting = (name: string) => [...upstreamOf(name, specs)].some((u) => waiting.has(u));
        // due jobs whose upstream is done start now; without a read-only store, what a datum leaves in it is found by
        // comparing the store's folders before and after (worker/run-datum.ts): that needs one job at a time
        const launch = due.filter((d) => !belowWaiting(d.row.name));
        if (isolation() === 'copy') launch.splice(running.size ? 0 : 1);
        const launching = new Set(launch.map((d) => d.row.name));
        // the processes of every other batching pipeline this call will likely run, started ahead (a starting job
        // starts its own at once): worker/warm-workers.ts
        if (batchingEnabled() && due.length) {
          warm.prestart(
            ordered
              .filter(
                ({ row, spec }) => spec.transform.datumBatching && !failed.has(row.name) && !running.has(row.name),
              )
              .filter(({ row }) => !launching.has(row.name))
              .filter(({ row }) => waiting.has(row.name) || belowWaiting(row.name))
              .map(({ row, spec }) => ({ spec, version: row.version })),
          );
        }
        for (const d of launch) {
          const name = d.row.name;
          const index = results.push(undefined) - 1;
          const job = runJob(store, d, log, slots, warm).then((r) => {
            results[index] = r;
            running.delete(name);
            opts.onJob?.(r);
            if (r.state !== 'success') holdBack(store, r, failed, log);
          });
          running.set(name, job);
        }
      }
      if (!running.size) break;
      await Promise.race(running.values());
    }
  } finally {
    await Promise.allSettled(running.values());
    await warm.close();
    store.releaseRunner();
  }
  return results.filter((r): r is JobResult => r !== undefined);
}

/**
 * A failed job's pipeline, and every pipeline below it, runs no more jobs in this call: downstream jobs would mix
 * its old output with their other inputs' new ones (Pachyderm does not run them either).
 */
function holdBack(store: Store, r: JobResult, failed: Set<string>, log: Logger): void {
  failed.add(r.pipeline);
  const ordered = orderedPipelines(store);
  const below = new Set(
    downstreamOf(
      r.pipeline,
      ordered.map((p) => p.spec),
    ).map((s) => s.pipeline.name),
  );
  for (const { row, spec } of ordered) {
    if (!below.has(row.name) || failed.has(row.name)) continue;
    failed.add(row.name);
    if (dueOf(store, row, spec))
      log.warn('job held back', { pipeline: row.name, because: `upstream pipeline ${r.pipeline} failed` });
  }
}
