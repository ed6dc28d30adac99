/** What a job's run comes to (counts, failures, a reason), and a job recorded as failed. */
import type { Logger } from '../../shared/log.js';
import { type JobRow, type JobState, markJobFailed } from '../store/job-rows.js';
import type { Store } from '../store/store.js';

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
  /** the first failure that every datum would share (a model fault, a full disk): the job took no datum after it */
  halted?: DatumFailure & { cause: string; notRun: number };
}

export function finishFailed(store: Store, job: JobRow, result: JobResult, reason: string, log: Logger): JobResult {
  markJobFailed(store, job.id, reason);
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
