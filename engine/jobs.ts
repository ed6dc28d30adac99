/**
 * Jobs and datums in the store, and when a pipeline is due.
 *
 * A pipeline is due when the heads of its input branches differ from the inputs of its last job, when its spec
 * version changed, when its last job was interrupted (resumed), or when its last job failed (retried once per
 * `tessella run`).
 */
import { headOf, type FileRow } from './pfs.js';
import { inputsOf, type PipelineSpec } from './spec.js';
import { processAlive } from './store/proc.js';
import { Store, StoreError } from './store/store.js';
import { orderedPipelines, type PipelineRow } from './pipelines.js';
export type JobState = 'running' | 'success' | 'failure' | 'killed';

export interface JobRow {
  seq: number;
  id: string;
  pipeline: string;
  version: number;
  salt: string;
  state: JobState;
  inputs: string;
  created: string;
  started: string | null;
  finished: string | null;
  pid: number | null;
  pid_start: string | null;
  reason: string | null;
  n_total: number;
  n_processed: number;
  n_skipped: number;
  n_failed: number;
  n_recovered: number;
}

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
  state: 'success' | 'skipped' | 'failed';
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
  return store.db.prepare(`SELECT * FROM jobs WHERE id = ?`).get(id) as JobRow | undefined;
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
    const rows = store.db.prepare(`SELECT * FROM jobs WHERE id >= ? AND id < ? LIMIT 2`).all(id, id + 'g') as JobRow[];
    if (rows.length > 1) throw new StoreError(`job prefix ${id} is ambiguous`);
    job = rows[0];
  }
  if (!job && pipeline && !id) job = lastJob(store, pipeline);
  if (!job || (pipeline && job.pipeline !== pipeline)) throw new StoreError(`job ${JSON.stringify(ref)} not found`);
  return job;
}

export function lastJob(store: Store, pipeline: string, state?: JobState): JobRow | undefined {
  return (
    state
      ? store.db.prepare(`SELECT * FROM jobs WHERE pipeline = ? AND state = ? ORDER BY seq DESC LIMIT 1`).get(pipeline, state)
      : store.db.prepare(`SELECT * FROM jobs WHERE pipeline = ? ORDER BY seq DESC LIMIT 1`).get(pipeline)
  ) as JobRow | undefined;
}

export function listJobs(store: Store, pipeline?: string, limit = -1): JobRow[] {
  return (
    pipeline
      ? store.db.prepare(`SELECT * FROM jobs WHERE pipeline = ? ORDER BY seq DESC LIMIT ?`).all(pipeline, limit)
      : store.db.prepare(`SELECT * FROM jobs ORDER BY seq DESC LIMIT ?`).all(limit)
  ) as JobRow[];
}

export function listDatums(store: Store, job: string, page?: { limit?: number; after?: string }): DatumRow[] {
  return store.db.prepare(`SELECT * FROM datums WHERE job = ? AND id > ? ORDER BY id LIMIT ?`).all(job, page?.after ?? '', page?.limit ?? -1) as DatumRow[];
}

export function getDatum(store: Store, job: string, id: string): DatumRow {
  let d = store.db.prepare(`SELECT * FROM datums WHERE job = ? AND id = ?`).get(job, id) as DatumRow | undefined;
  if (!d && /^[0-9a-f]{4,}$/.test(id)) {
    const rows = store.db.prepare(`SELECT * FROM datums WHERE job = ? AND id >= ? AND id < ? LIMIT 2`).all(job, id, id + 'g') as DatumRow[];
    if (rows.length > 1) throw new StoreError(`datum prefix ${id} is ambiguous in job ${job}`);
    d = rows[0];
  }
  if (!d) throw new StoreError(`datum ${id} not found in job ${job}`);
  return d;
}

export function datumFiles(store: Store, job: string, datum: string): FileRow[] {
  return store.db.prepare(`SELECT path, hash, size FROM datum_files WHERE job = ? AND datum = ? ORDER BY path`).all(job, datum) as FileRow[];
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
  if (!same) return { kind: 'new', row, spec, inputs: heads, inherit: last.state === 'failure' || last.state === 'running' || last.state === 'killed' ? last : undefined };
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
