/**
 * Jobs and datums in the store, and when a pipeline is due.
 *
 * A pipeline is due when the heads of its input branches differ from the inputs of its last job, when its spec
 * version changed, when its last job was interrupted (resumed), or when its last job failed (retried once per
 * `tessella run`).
 */
import { headOf } from '../pfs/commits.js';
import type { FileRow } from '../store/files.js';
import {
  type DatumVersion,
  outputsOf,
  versionInJob,
  versionsInJobByPrefix,
  versionsOfJob,
} from '../store/datum-versions.js';
import {
  hasLaterJob,
  jobById,
  type JobRow,
  type JobState,
  jobRows,
  jobsByPrefix,
  newestJob,
} from '../store/job-rows.js';
import { inputsOf, type PipelineSpec } from './spec/pipeline-spec.js';
import { processAlive } from '../store/proc.js';
import { type Store, StoreError } from '../store/store.js';
import { orderedPipelines, type PipelineRow } from './pipelines.js';
export type { JobRow, JobState };

export interface JobInput {
  repo: string;
  branch: string;
  /** '' when the branch has no commit yet */
  commit: string;
}

export interface DatumRow {
  job: string;
  id: string;
  hash: string;
  /** 'skipped': reused from `reused_from`, the job that ran it; 'pending': not run yet (an unfinished job) */
  state: 'success' | 'skipped' | 'failed' | 'pending';
  tries: number;
  reused_from: string | null;
  started: string | null;
  finished: string | null;
  seconds: number | null;
  log: string | null;
  error: string | null;
  inputs: string;
}

export function getJob(store: Store, id: string): JobRow | undefined {
  return jobById(store, id);
}

/** A job by id (or unique prefix), optionally `pipeline@id`. */
export function resolveJob(store: Store, ref: string): JobRow {
  let pipeline: string | undefined;
  let id = ref;
  const at = ref.indexOf('@');
  if (at >= 0) {
    pipeline = ref.slice(0, at);
    id = ref.slice(at + 1);
  }
  let job = getJob(store, id);
  if (!job && /^[0-9a-f]{4,}$/.test(id)) {
    const rows = jobsByPrefix(store, id);
    if (rows.length > 1) throw new StoreError(`job prefix ${id} is ambiguous`);
    job = rows[0];
  }
  if (!job && pipeline && !id) job = lastJob(store, pipeline);
  if (!job || (pipeline && job.pipeline !== pipeline)) throw new StoreError(`job ${JSON.stringify(ref)} not found`);
  return job;
}

export function lastJob(store: Store, pipeline: string, state?: JobState): JobRow | undefined {
  return newestJob(store, pipeline, state);
}

export function listJobs(store: Store, pipeline?: string, limit = -1): JobRow[] {
  return jobRows(store, pipeline, limit);
}

/** The datums of a job (its whole datum set, the skipped ones too), in id order, a page at a time. */
export function listDatums(store: Store, job: string, page: { limit?: number; after?: string } = {}): DatumRow[] {
  const j = mustJob(store, job);
  return versionsOfJob(store, j.pipeline, j.seq, isLatest(store, j), page).map((v) => datumRowOf(j, v));
}

export function getDatum(store: Store, job: string, id: string): DatumRow {
  const j = mustJob(store, job);
  let v = versionInJob(store, j.pipeline, id, j.seq);
  if (!v && /^[0-9a-f]{4,}$/.test(id)) {
    const rows = versionsInJobByPrefix(store, j.pipeline, id, j.seq);
    if (rows.length > 1) throw new StoreError(`datum prefix ${id} is ambiguous in job ${job}`);
    v = rows[0];
  }
  if (!v) throw new StoreError(`datum ${id} not found in job ${job}`);
  return datumRowOf(j, v);
}

/** The files a datum of a job wrote (for a skipped one: as the job that ran it wrote them). */
export function datumFiles(store: Store, job: string, datum: string): FileRow[] {
  const j = getJob(store, job);
  const v = j ? versionInJob(store, j.pipeline, datum, j.seq) : undefined;
  return outputsOf(store, v?.job ?? job, datum);
}

function mustJob(store: Store, id: string): JobRow {
  const j = getJob(store, id);
  if (!j) throw new StoreError(`job ${id} not found`);
  return j;
}

function isLatest(store: Store, j: JobRow): boolean {
  return !hasLaterJob(store, j.pipeline, j.seq);
}

function datumRowOf(j: JobRow, v: DatumVersion): DatumRow {
  if (v.job !== j.id) {
    return {
      job: j.id,
      id: v.id,
      hash: v.hash,
      state: 'skipped',
      tries: 0,
      reused_from: v.job,
      started: null,
      finished: null,
      seconds: 0,
      log: null,
      error: null,
      inputs: v.inputs,
    };
  }
  return {
    job: j.id,
    id: v.id,
    hash: v.hash,
    state: v.state,
    tries: v.tries,
    reused_from: null,
    started: v.started,
    finished: v.finished,
    seconds: v.seconds,
    log: v.log,
    error: v.error,
    inputs: v.inputs,
  };
}

/** The current heads of a pipeline's input branches, sorted. */
export function inputHeads(store: Store, spec: PipelineSpec): JobInput[] {
  const seen = new Map<string, JobInput>();
  for (const pfs of inputsOf(spec.input)) {
    const branch = pfs.branch ?? 'master';
    const key = `${pfs.repo}@${branch}`;
    if (!seen.has(key)) seen.set(key, { repo: pfs.repo, branch, commit: headOf(store, pfs.repo, branch)?.id ?? '' });
  }
  return [...seen.values()].sort((a, b) => (a.repo + '@' + a.branch < b.repo + '@' + b.branch ? -1 : 1));
}

export type Due =
  | { kind: 'new'; row: PipelineRow; spec: PipelineSpec; inputs: JobInput[]; inherit?: JobRow }
  | { kind: 'resume'; row: PipelineRow; spec: PipelineSpec; job: JobRow };

/** Whether a pipeline has work, and which. A running job of a live other process is not due. */
export function dueOf(store: Store, row: PipelineRow, spec: PipelineSpec, retryFailed = true): Due | undefined {
  const last = lastJob(store, row.name);
  if (last && last.state === 'running') {
    if (last.pid && last.pid !== process.pid && processAlive(last.pid, last.pid_start ?? '')) return undefined;
    if (last.version === row.version) return { kind: 'resume', row, spec, job: last };
  }
  const heads = inputHeads(store, spec);
  if (heads.every((h) => h.commit === '')) return undefined;
  if (!last) return { kind: 'new', row, spec, inputs: heads };
  const same = last.inputs === JSON.stringify(heads) && last.version === row.version;
  if (!same)
    return {
      kind: 'new',
      row,
      spec,
      inputs: heads,
      inherit: last.state === 'failure' || last.state === 'running' || last.state === 'killed' ? last : undefined,
    };
  if ((last.state === 'failure' || last.state === 'killed' || last.state === 'running') && retryFailed) {
    return { kind: 'new', row, spec, inputs: heads, inherit: last };
  }
  return undefined;
}

/** Pipelines with work to do, in DAG order. */
export function duePipelines(store: Store): Due[] {
  const out: Due[] = [];
  for (const { row, spec } of orderedPipelines(store)) {
    const d = dueOf(store, row, spec);
    if (d) out.push(d);
  }
  return out;
}
