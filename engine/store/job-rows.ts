/**
 * The `jobs` table: one row per job of a pipeline (its seq orders them), with the input commits it read, its state,
 * the process running it, and its datum counts.
 */
import { now, type Store } from './store.js';

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
  /** what makes this job's datums comparable with the next one's (plan.ts inputKey) */
  input_key: string;
}

export function jobById(store: Store, id: string): JobRow | undefined {
  return store.stmt<JobRow>(`SELECT * FROM jobs WHERE id = ?`).get(id);
}

/** Up to two jobs whose id starts with `prefix` (two: the prefix is ambiguous). */
export function jobsByPrefix(store: Store, prefix: string): JobRow[] {
  return store.stmt<JobRow>(`SELECT * FROM jobs WHERE id >= ? AND id < ? LIMIT 2`).all(prefix, prefix + 'g');
}

/** A pipeline's newest job (in `state` when given). */
export function newestJob(store: Store, pipeline: string, state?: JobState): JobRow | undefined {
  return state
    ? store
        .stmt<JobRow>(`SELECT * FROM jobs WHERE pipeline = ? AND state = ? ORDER BY seq DESC LIMIT 1`)
        .get(pipeline, state)
    : store.stmt<JobRow>(`SELECT * FROM jobs WHERE pipeline = ? ORDER BY seq DESC LIMIT 1`).get(pipeline);
}

/** Jobs newest first, of one pipeline or all; `limit` -1: all. */
export function jobRows(store: Store, pipeline: string | undefined, limit: number): JobRow[] {
  return pipeline
    ? store.stmt<JobRow>(`SELECT * FROM jobs WHERE pipeline = ? ORDER BY seq DESC LIMIT ?`).all(pipeline, limit)
    : store.stmt<JobRow>(`SELECT * FROM jobs ORDER BY seq DESC LIMIT ?`).all(limit);
}

/** Whether a later job of the pipeline exists. */
export function hasLaterJob(store: Store, pipeline: string, seq: number): boolean {
  return store.stmt(`SELECT 1 FROM jobs WHERE pipeline = ? AND seq > ? LIMIT 1`).get(pipeline, seq) !== undefined;
}

/** A pipeline's job at seq `seq` and every later one, newest first. */
export function jobsFrom(store: Store, pipeline: string, seq: number): { seq: number; id: string }[] {
  return store
    .stmt<{ seq: number; id: string }>(`SELECT seq, id FROM jobs WHERE pipeline = ? AND seq >= ? ORDER BY seq DESC`)
    .all(pipeline, seq);
}

export function insertJob(
  store: Store,
  j: Pick<JobRow, 'id' | 'pipeline' | 'version' | 'salt' | 'inputs' | 'pid' | 'pid_start' | 'input_key'>,
): void {
  store
    .stmt(
      `INSERT INTO jobs (id, pipeline, version, salt, state, inputs, created, started, pid, pid_start, input_key) VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)`,
    )
    .run(j.id, j.pipeline, j.version, j.salt, j.inputs, now(), now(), j.pid, j.pid_start, j.input_key);
}

/** The process now running (resuming) a job. */
export function setJobProcess(store: Store, id: string, pid: number, pidStart: string): void {
  store.stmt(`UPDATE jobs SET pid = ?, pid_start = ? WHERE id = ?`).run(pid, pidStart, id);
}

/** Ends a pipeline's running (interrupted) jobs as killed, with `reason`. */
export function killRunningJobs(store: Store, pipeline: string, reason: string): void {
  store
    .stmt(`UPDATE jobs SET state = 'killed', finished = ?, reason = ? WHERE pipeline = ? AND state = 'running'`)
    .run(now(), reason, pipeline);
}

export function setJobTotal(store: Store, id: string, total: number): void {
  store.stmt(`UPDATE jobs SET n_total = ? WHERE id = ?`).run(total, id);
}

export function setJobCounts(
  store: Store,
  id: string,
  c: { processed: number; skipped: number; failed: number; recovered: number },
): void {
  store
    .stmt(`UPDATE jobs SET n_processed = ?, n_skipped = ?, n_failed = ?, n_recovered = ? WHERE id = ?`)
    .run(c.processed, c.skipped, c.failed, c.recovered, id);
}

export function markJobFailed(store: Store, id: string, reason: string): void {
  store
    .stmt(`UPDATE jobs SET state = 'failure', finished = ?, reason = ?, pid = NULL WHERE id = ?`)
    .run(now(), reason, id);
}

export function markJobSucceeded(store: Store, id: string): void {
  store.stmt(`UPDATE jobs SET state = 'success', finished = ?, pid = NULL WHERE id = ?`).run(now(), id);
}

export function deleteJob(store: Store, id: string): void {
  store.stmt(`DELETE FROM jobs WHERE id = ?`).run(id);
}

export function deletePipelineJobs(store: Store, pipeline: string): void {
  store.stmt(`DELETE FROM jobs WHERE pipeline = ?`).run(pipeline);
}
