/**
 * A job as the verbs show it. A job stays `running` in the store when its runner dies (a kill, a crash, a closed
 * laptop) until the next `tessella run` resumes it; shown as running it would look alive with a growing duration.
 * So a running job that no live runner holds is shown as `interrupted` (Pachyderm would say KILLED; here the next
 * run picks it up again), with no duration and a reason saying so. Nothing is written: showing is a read.
 */
import { hostname } from 'node:os';
import type { JobRow, JobState } from '../store/job-rows.js';
import { processAlive } from '../store/proc.js';
import type { Store } from '../store/store.js';

export type ShownState = JobState | 'interrupted';

export interface ShownJob extends Omit<JobRow, 'state'> {
  state: ShownState;
}

/** Whether a running job's runner is gone: no process holds the store's run lock, or the job's process is dead. */
export function runnerGone(store: Store, job: JobRow): boolean {
  if (job.state !== 'running') return false;
  const holder = store.runnerHolder();
  if (!holder) return true;
  if (holder.host !== hostname()) return false; // another machine's processes cannot be looked at
  return job.pid !== null && !processAlive(job.pid, job.pid_start ?? '');
}

/** The job with `interrupted` for a running one whose runner is gone. */
export function shownJob(store: Store, job: JobRow): ShownJob {
  if (!runnerGone(store, job)) return job;
  return {
    ...job,
    state: 'interrupted',
    reason: `its runner${job.pid ? ` (tessella pid ${job.pid})` : ''} ended before the job did; the next \`tessella run\` resumes it`,
  };
}
