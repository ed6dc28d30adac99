/**
 * One job from start to end: started (or resumed) and planned in one transaction, its changed datums run
 * (datum-queue.ts), then ended with its output commit (output-commit.ts) or as failed.
 */
import { join } from 'node:path';
import type { Logger } from '../../shared/log.js';
import { newId } from '../pfs/names.js';
import {
  insertJob as insertJobRow,
  killRunningJobs,
  setJobCounts,
  setJobProcess,
  setJobTotal,
} from '../store/job-rows.js';
import { selfStartTime } from '../store/proc.js';
import type { Store } from '../store/store.js';
import { active } from '../worker/children.js';
import type { WarmWorkers } from '../worker/warm-workers.js';
import { executeDatums } from './datum-queue.js';
import { JobProgress } from './job-progress.js';
import { finishFailed, type JobResult } from './job-result.js';
import { type Due, getJob, type JobInput, type JobRow, lastJob } from './jobs.js';
import { finishJob } from './output-commit.js';
import { inputKey, type Plan, planJob, resumePlan } from './plan.js';
import { DatumSlots } from './slots.js';

/** Starts (or resumes) a job and plans it, in one transaction: a job row exists only with its plan. */
function startJob(store: Store, due: Due): { job: JobRow; plan: Plan } {
  if (due.kind === 'resume') {
    setJobProcess(store, due.job.id, process.pid, selfStartTime);
    const job = getJob(store, due.job.id)!;
    return { job, plan: resumePlan(store, job, JSON.parse(job.inputs) as JobInput[]) };
  }
  return store.tx(() => {
    // an interrupted job that will not be resumed (its spec changed) ends as killed
    killRunningJobs(store, due.row.name, 'interrupted; superseded by a newer job');
    const prev = lastJob(store, due.row.name);
    const lastOk = lastJob(store, due.row.name, 'success');
    const job = insertJob(store, due, inputKey(due.spec, due.row.salt));
    const plan = planJob(store, job, due.spec, due.inputs, prev, lastOk);
    setJobTotal(store, job.id, plan.total);
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
  setJobCounts(store, job.id, {
    processed: result.processed + result.recovered,
    skipped: result.skipped,
    failed: result.failed,
    recovered: result.recovered,
  });
  if (result.halted) {
    const h = result.halted;
    const untried = h.notRun ? `; the job stopped there, ${h.notRun} datum(s) not tried` : '';
    return finishFailed(
      store,
      job,
      result,
      `${h.datum}: ${h.error}${untried}: ${h.cause} fails every datum alike; fix it and run again (log: ${h.log})`,
      log,
    );
  }
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
  insertJobRow(store, {
    id,
    pipeline: due.row.name,
    version: due.row.version,
    salt: due.row.salt,
    inputs: JSON.stringify(due.inputs),
    pid: process.pid,
    pid_start: selfStartTime,
    input_key: inputKey,
  });
  return getJob(store, id)!;
}
