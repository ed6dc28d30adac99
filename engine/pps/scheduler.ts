/**
 * Running jobs (Pachyderm's PPS workers on one machine). A job computes its datums over frozen input commits; a
 * datum whose hash succeeded in the last successful job is skipped and its output reused; the others run as
 * separate processes. When every datum succeeded and no two datums wrote the same path, the job's output commit
 * (id = job id) is made in the same transaction that marks the job successful, recording its input commits
 * (provenance).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { createLogger, type Logger } from '../../shared/log.js';
import { commitDiff, commitFiles, headOf, newId, PathConflict, type FileRow } from '../pfs/pfs.js';
import { inputKey, planJob, resumePlan, type Plan, type QueuedDatum } from './plan.js';
import {
  currentSuccessful,
  currentWritersOf,
  enteredSince,
  leftSince,
  outputsOf,
  pruneOutputs,
} from '../store/datum-versions.js';
import { JobProgress } from './job-progress.js';
import { parseDurationSeconds, type PipelineSpec } from './spec.js';
import { selfStartTime } from '../store/proc.js';
import { now, type Store } from '../store/store.js';
import { appDir } from '../app-dir.js';
import { engineEnv } from '../env.js';
import { active, runDatum, scratchRemovals, type DatumContext } from '../worker/process-executor.js';
import { BatchWorker } from '../worker/batch-executor.js';
import { WarmWorkers } from '../worker/warm-workers.js';
import { isolation } from '../worker/sandbox.js';
import { downstreamOf, readersOfRepo, upstreamOf } from './dag.js';
import { DatumSlots } from './slots.js';
import { orderedPipelines } from './pipelines.js';
import { dueOf, duePipelines, getJob, lastJob, type Due, type JobInput, type JobRow, type JobState } from './jobs.js';
let gpuCache: string[] | undefined;

/** GPU ids: $TESSELLA_GPUS (a count or a list like "0,2"), else one per line of `nvidia-smi -L`. */
export function gpuIds(): string[] {
  const listed = engineEnv().TESSELLA_GPUS;
  if (listed) return listed;
  if (gpuCache) return gpuCache;
  try {
    const out = execFileSync('nvidia-smi', ['-L'], {
      encoding: 'utf8',
      timeout: 10000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    gpuCache = out
      .split('\n')
      .filter((l) => /^GPU \d+/.test(l))
      .map((l) => /^GPU (\d+)/.exec(l)![1]);
  } catch {
    gpuCache = [];
  }
  return gpuCache;
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

/** Whether specs that ask for datum batching get it (TESSELLA_DATUM_BATCHING=off: a process per datum). */
function batchingOn(): boolean {
  return engineEnv().TESSELLA_DATUM_BATCHING !== 'off';
}

/** Pachyderm specs say `/pfs/...`; locally each datum has its own root. */
function workingDirFor(spec: PipelineSpec): string {
  const app = appDir();
  const wd = spec.transform.workingDir as string | undefined;
  if (!wd || wd === '/app') return app;
  if (wd.startsWith('/app/')) return join(app, wd.slice(5));
  return resolve(app, wd);
}

export interface DatumFailure {
  datum: string;
  log: string;
  error: string;
}

export interface JobResult {
  pipeline: string;
  job: string;
  state: JobState;
  total: number;
  processed: number;
  skipped: number;
  failed: number;
  recovered: number;
  seconds: number;
  reason?: string;
  failures: DatumFailure[];
}

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
        for (const d of due) {
          const name = d.row.name;
          if ([...upstreamOf(name, specs)].some((u) => waiting.has(u))) continue;
          // without a read-only store, what a datum leaves in it is found by comparing the store's folders
          // before and after (datum-process.ts): that needs one job at a time
          if (running.size && isolation() === 'copy') break;
          const index = results.push(undefined) - 1;
          if (batchingOn()) {
            const readers = new Set(readersOfRepo(name, specs).map((s) => s.pipeline.name));
            warm.prestart(
              ordered
                .filter((o) => readers.has(o.row.name) && o.spec.transform.datumBatching)
                .filter((o) => !failed.has(o.row.name) && !running.has(o.row.name))
                .map((o) => ({ spec: o.spec, version: o.row.version })),
            );
          }
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

/** Starts (or resumes) a job and plans it, in one transaction: a job row exists only with its plan. */
function startJob(store: Store, due: Due): { job: JobRow; plan: Plan } {
  if (due.kind === 'resume') {
    store.stmt(`UPDATE jobs SET pid = ?, pid_start = ? WHERE id = ?`).run(process.pid, selfStartTime, due.job.id);
    const job = getJob(store, due.job.id)!;
    return { job, plan: resumePlan(store, job, JSON.parse(job.inputs) as JobInput[]) };
  }
  return store.tx(() => {
    // an interrupted job that will not be resumed (its spec changed) ends as killed
    store
      .stmt(
        `UPDATE jobs SET state = 'killed', finished = ?, reason = 'interrupted; superseded by a newer job' WHERE pipeline = ? AND state = 'running'`,
      )
      .run(now(), due.row.name);
    const prev = lastJob(store, due.row.name);
    const lastOk = lastJob(store, due.row.name, 'success');
    const job = insertJob(store, due, inputKey(due.spec, due.row.salt));
    const plan = planJob(store, job, due.spec, due.inputs, prev, lastOk);
    store.stmt(`UPDATE jobs SET n_total = ? WHERE id = ?`).run(plan.total, job.id);
    return { job, plan };
  });
}

/**
 * Runs (or resumes) one job to its end: plan, execute the changed datums, finish with the output commit. `slots`:
 * the machine's datum slots when other jobs run beside it.
 */
export async function runJob(
  store: Store,
  due: Due,
  log: Logger,
  slots = new DatumSlots(),
  warm?: WarmWorkers,
): Promise<JobResult> {
  const spec = due.spec;
  let started;
  try {
    started = startJob(store, due);
  } catch (e) {
    if (String((e as { code?: unknown }).code ?? '').startsWith('SQLITE_')) throw e;
    // a job whose datums cannot even be computed (a bad glob) is recorded as failed, with nothing planned
    const job = due.kind === 'resume' ? due.job : insertJob(store, due, '');
    const result: JobResult = {
      pipeline: job.pipeline,
      job: job.id,
      state: 'running',
      total: 0,
      processed: 0,
      skipped: 0,
      failed: 0,
      recovered: 0,
      seconds: 0,
      failures: [],
    };
    return finishFailed(store, job, result, `cannot compute datums: ${(e as Error).message}`, log);
  }
  const { job, plan } = started;
  const inputs = JSON.parse(job.inputs) as JobInput[];
  const result: JobResult = {
    pipeline: job.pipeline,
    job: job.id,
    state: 'running',
    total: plan.total,
    processed: 0,
    skipped: plan.skipped,
    failed: 0,
    recovered: plan.recovered,
    seconds: 0,
    failures: [],
  };
  const progress = new JobProgress(log, job.pipeline, job.id, result.total, join(store.logsDir, job.pipeline, job.id)); // follows the datum logs
  progress.processed = result.recovered;
  progress.skipped = result.skipped;
  log.info('job started', {
    pipeline: job.pipeline,
    job: job.id,
    datums: result.total,
    to_run: plan.queue.length,
    skipped: result.skipped,
    resumed: result.recovered,
    plan: plan.mode,
  });
  if (plan.queue.length) progress.draw();

  await executeDatums(store, spec, job, plan.queue, result, progress, log, slots, warm);
  result.seconds = progress.end();
  if (active.interrupted) {
    result.state = 'running';
    result.reason = 'interrupted';
    return result;
  }
  store
    .stmt(`UPDATE jobs SET n_processed = ?, n_skipped = ?, n_failed = ?, n_recovered = ? WHERE id = ?`)
    .run(result.processed + result.recovered, result.skipped, result.failed, result.recovered, job.id);
  if (result.failed) {
    const f = result.failures[0];
    return finishFailed(
      store,
      job,
      result,
      `${result.failed} datum(s) failed; first: ${f.datum}: ${f.error} (log: ${f.log})`,
      log,
    );
  }
  return finishJob(store, job, inputs, result, log);
}

/** A new running job of this process. `inputKey` '' (a job whose datums cannot be computed) matches no later job. */
function insertJob(store: Store, due: Extract<Due, { kind: 'new' }>, inputKey: string): JobRow {
  const id = newId();
  store
    .stmt(
      `INSERT INTO jobs (id, pipeline, version, salt, state, inputs, created, started, pid, pid_start, input_key) VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      id,
      due.row.name,
      due.row.version,
      due.row.salt,
      JSON.stringify(due.inputs),
      now(),
      now(),
      process.pid,
      selfStartTime,
      inputKey,
    );
  return getJob(store, id)!;
}

/** Runs the queued datums, as many at once as the pipeline's slots. */
async function executeDatums(
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
  const batching = spec.transform.datumBatching === true && batchingOn();
  const worker = async (gpus: string[]) => {
    // datum batching: one process per slot serves its datums in turn (datum-batch.ts), maybe started ahead
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
    while (next < queue.length && !active.interrupted) {
      const item = queue[next++];
      const release = await machine.take(gpus);
      let r;
      try {
        r = await runDatum(ctx, item.datum, gpus, batch);
      } finally {
        release();
      }
      if (r.ok) {
        result.processed++;
        progress.update('processed');
      } else {
        result.failed++;
        result.failures.push({ datum: item.datum.id, log: r.log, error: r.error });
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
  await scratchRemovals();
}

function finishFailed(store: Store, job: JobRow, result: JobResult, reason: string, log: Logger): JobResult {
  store
    .stmt(`UPDATE jobs SET state = 'failure', finished = ?, reason = ?, pid = NULL WHERE id = ?`)
    .run(now(), reason, job.id);
  result.state = 'failure';
  result.reason = reason;
  log.error('job failed', {
    pipeline: job.pipeline,
    job: job.id,
    reason,
    processed: result.processed,
    skipped: result.skipped,
    failed: result.failed,
  });
  return result;
}

/**
 * The output commit, in the transaction that marks the job successful. When the output head is the last
 * successful job's commit, it changes by the outputs of the datums that entered or left the set since that job;
 * otherwise (a first job, a deleted output commit) it is rebuilt from every current datum's outputs.
 */
function finishJob(store: Store, job: JobRow, inputs: JobInput[], result: JobResult, log: Logger): JobResult {
  const provenance = inputs.filter((i) => i.commit);
  const lastOk = lastJob(store, job.pipeline, 'success'); // this job is still running
  const head = headOf(store, job.pipeline, 'master');
  let files = 0;
  let conflict: string | undefined;
  store.tx(() => {
    if (lastOk && head && head.id === lastOk.id) {
      const left = leftSince(store, job.pipeline, lastOk.seq);
      const removed = new Map<string, string>(); // path -> hash
      for (const v of left)
        if (v.state === 'success') for (const f of outputsOf(store, v.job, v.id)) removed.set(f.path, f.hash);
      const puts: FileRow[] = [];
      for (const v of enteredSince(store, job.pipeline, lastOk.seq)) puts.push(...outputsOf(store, v.job, v.id));
      const seen = new Set<string>();
      for (const f of puts) {
        if (seen.has(f.path)) {
          conflict = conflictReason(store, job.pipeline, new PathConflict(f.path, 'same', f.path));
          return;
        }
        seen.add(f.path);
      }
      // a datum that ran again and wrote a file as it was costs nothing for that file
      const changed: FileRow[] = [];
      for (const f of puts) {
        if (removed.get(f.path) === f.hash) removed.delete(f.path);
        else changed.push(f);
      }
      try {
        commitDiff(store, job.pipeline, 'master', removed.keys(), changed, {
          origin: 'job',
          job: job.id,
          id: job.id,
          provenance,
        });
      } catch (e) {
        if (!(e instanceof PathConflict)) throw e;
        conflict = conflictReason(store, job.pipeline, e);
        return;
      }
      // outputs of versions that left since the last successful job: no later job can reuse them
      for (const v of left) pruneOutputs(store, v);
    } else {
      const rows: (FileRow & { datum: string })[] = [];
      for (const v of currentSuccessful(store, job.pipeline))
        for (const f of outputsOf(store, v.job, v.id)) rows.push({ ...f, datum: v.id });
      conflict = treeConflict(rows);
      if (conflict) return;
      commitFiles(
        store,
        job.pipeline,
        'master',
        rows.map(({ path, hash, size }) => ({ path, hash, size })),
        { origin: 'job', job: job.id, id: job.id, provenance },
      );
    }
    files = headOf(store, job.pipeline, 'master')!.n_files;
    store.stmt(`UPDATE jobs SET state = 'success', finished = ?, pid = NULL WHERE id = ?`).run(now(), job.id);
  });
  if (conflict) return finishFailed(store, job, result, conflict, log);
  result.state = 'success';
  log.info('job succeeded', {
    pipeline: job.pipeline,
    job: job.id,
    datums: result.total,
    processed: result.processed,
    skipped: result.skipped,
    resumed: result.recovered,
    files,
    seconds: Math.round(result.seconds * 1000) / 1000,
  });
  return result;
}

/** Two datums writing one path, or a file where another datum writes a folder, among a whole output. */
function treeConflict(rows: (FileRow & { datum: string })[]): string | undefined {
  rows.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (let i = 1; i < rows.length; i++) {
    if (rows[i - 1].path === rows[i].path)
      return `datums ${rows[i - 1].datum} and ${rows[i].datum} both write ${rows[i].path}`;
  }
  const byPath = new Map(rows.map((r) => [r.path, r]));
  for (const r of rows) {
    for (let i = r.path.lastIndexOf('/'); i > 0; i = r.path.lastIndexOf('/', i - 1)) {
      const other = byPath.get(r.path.slice(0, i));
      if (other)
        return `datum ${other.datum} writes the file ${other.path} and datum ${r.datum} writes ${r.path} under it`;
    }
  }
  return undefined;
}

/** The reason for a conflict found while applying an incremental output, naming the datums. */
function conflictReason(store: Store, pipeline: string, e: PathConflict): string {
  const writers = (p: string) => currentWritersOf(store, pipeline, p);
  if (e.kind === 'same') {
    const w = writers(e.path);
    return `datums ${w.join(' and ')} both write ${e.path}`;
  }
  if (e.kind === 'file-above') {
    return `datum ${writers(e.other).join(', ')} writes the file ${e.other} and datum ${writers(e.path).join(', ')} writes ${e.path} under it`;
  }
  return `datum ${writers(e.path).join(', ')} writes ${e.path} where files of another datum are below it`;
}
