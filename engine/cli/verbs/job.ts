/** Verbs on jobs: list, inspect. */
import { jsonOption, one, wantsJson } from '../args.js';
import { ago, duration } from '../format.js';
import { out, printJson, printJsonLines, table } from '../output.js';
import { openStoreToRead } from '../session.js';
import { UsageError, type Verb } from '../verb.js';
import { type ShownJob, shownJob } from '../../pps/job-liveness.js';
import { listJobs, resolveJob } from '../../pps/jobs.js';

function jobJson(j: ShownJob) {
  return {
    job: { pipeline: j.pipeline, id: j.id },
    state: j.state,
    pipeline_version: j.version,
    created: j.created,
    started: j.started,
    finished: j.finished,
    reason: j.reason,
    data_total: j.n_total,
    data_processed: j.n_processed,
    data_skipped: j.n_skipped,
    data_failed: j.n_failed,
    data_recovered: j.n_recovered,
    inputs: JSON.parse(j.inputs),
    output_commit: j.state === 'success' ? { repo: j.pipeline, branch: 'master', id: j.id } : null,
  };
}

export const jobVerbs: Record<string, Verb> = {
  'list job': {
    usage: 'list job [-p PIPELINE] [-o json]',
    summary: 'list jobs, newest first',
    options: { ...jsonOption, pipeline: { type: 'string', short: 'p' } },
    run(args, v) {
      if (args.length) throw new UsageError('list job takes no arguments (use -p PIPELINE)');
      const s = openStoreToRead();
      const jobs = listJobs(s, v.pipeline as string | undefined).map((j) => shownJob(s, j));
      if (wantsJson(v)) return printJsonLines(jobs.map(jobJson));
      table(
        ['PIPELINE', 'ID', 'STARTED', 'DURATION', 'PROGRESS', 'DL/SKIP/FAIL', 'STATE'],
        jobs.map((j) => [
          j.pipeline,
          j.id,
          ago(j.started),
          j.state === 'interrupted' ? '-' : duration(j.started, j.finished),
          `${j.n_processed + j.n_skipped}/${j.n_total}`,
          `${j.n_processed}/${j.n_skipped}/${j.n_failed}`,
          j.state.toUpperCase(),
        ]),
      );
    },
  },
  'inspect job': {
    usage: 'inspect job PIPELINE@JOB [-o json]',
    summary: 'show a job: inputs, counts, output commit, why it failed',
    options: jsonOption,
    run(args, v) {
      const s = openStoreToRead();
      const j = shownJob(s, resolveJob(s, one(args, 'PIPELINE@JOB')));
      if (wantsJson(v)) return printJson(jobJson(j));
      out(
        `ID: ${j.id}\nPipeline: ${j.pipeline} (version ${j.version})\nState: ${j.state.toUpperCase()}\nStarted: ${j.started ?? '-'}\nDuration: ${j.state === 'interrupted' ? '-' : duration(j.started, j.finished)}`,
      );
      out(
        `Datums: ${j.n_total} total, ${j.n_processed} processed, ${j.n_skipped} skipped, ${j.n_failed} failed, ${j.n_recovered} resumed`,
      );
      out(
        `Inputs: ${(JSON.parse(j.inputs) as { repo: string; branch: string; commit: string }[]).map((i) => `${i.repo}@${i.branch}=${i.commit || '(none)'}`).join(', ')}`,
      );
      if (j.state === 'success') out(`Output commit: ${j.pipeline}@${j.id}`);
      if (j.reason) out(`Reason: ${j.reason}`);
    },
  },
};
