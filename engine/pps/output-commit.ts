/**
 * Where a job's output commit is made: in the transaction that marks the job successful, from the outputs of its
 * datums (commit-writer.ts writes it), recording the job's input commits as its provenance.
 */
import type { Logger } from '../../shared/log.js';
import { headOf } from '../pfs/commits.js';
import { commitDiff, commitFiles, PathConflict } from '../pfs/commit-writer.js';
import { currentSuccessful, enteredSince, leftSince, outputsOf, pruneOutputs } from '../store/datum-versions.js';
import type { FileRow } from '../store/files.js';
import { markJobSucceeded } from '../store/job-rows.js';
import type { Store } from '../store/store.js';
import { conflictReason, treeConflict } from './conflicts.js';
import { finishFailed, type JobResult } from './job-result.js';
import { type JobInput, type JobRow, lastJob } from './jobs.js';

/**
 * The output commit, in the transaction that marks the job successful. When the output head is the last
 * successful job's commit, it changes by the outputs of the datums that entered or left the set since that job;
 * otherwise (a first job, a deleted output commit) it is rebuilt from every current datum's outputs.
 */
export function finishJob(store: Store, job: JobRow, inputs: JobInput[], result: JobResult, log: Logger): JobResult {
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
    markJobSucceeded(store, job.id);
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
