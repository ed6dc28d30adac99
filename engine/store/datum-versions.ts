/**
 * The `datums` and `datum_files` tables (the current set is read through its partial indexes, named, since the
 * planner would otherwise scan every version of the pipeline): versions of a pipeline's datums over its jobs, and the outputs of each
 * datum as the job that ran it wrote them. A version is in the datum set of every job with since <= seq < until;
 * the current set (until IS NULL) is the latest job's. A job writes rows only for the datums it runs, drops or
 * takes back from an older job, never for the unchanged ones.
 */
import type { FileRow } from './files.js';
import type { Store } from './store.js';

export type DatumState = 'pending' | 'success' | 'failed';

export interface DatumVersion {
  pipeline: string;
  id: string;
  since: number;
  until: number | null;
  /** the job that ran it: its outputs and log */
  job: string;
  hash: string;
  state: DatumState;
  tries: number;
  started: string | null;
  finished: string | null;
  seconds: number | null;
  log: string | null;
  error: string | null;
  /** what `list datum` shows of its inputs (JSON) */
  inputs: string;
  /** how to mount it again: its inputs without their files (JSON), kept until it succeeds */
  def: string | null;
}

const COLS = `pipeline, id, since, until, job, hash, state, tries, started, finished, seconds, log, error, inputs, def`;

export function currentVersion(store: Store, pipeline: string, id: string): DatumVersion | undefined {
  return store
    .stmt<DatumVersion>(
      `SELECT ${COLS} FROM datums INDEXED BY datums_current WHERE pipeline = ? AND id = ? AND until IS NULL`,
    )
    .get(pipeline, id);
}

/** The current set, id -> (hash, state): the full planning pass only. */
export function currentHashes(store: Store, pipeline: string): Map<string, { hash: string; state: DatumState }> {
  const out = new Map<string, { hash: string; state: DatumState }>();
  for (const r of store
    .stmt<{ id: string; hash: string; state: DatumState }>(
      `SELECT id, hash, state FROM datums INDEXED BY datums_current WHERE pipeline = ? AND until IS NULL`,
    )
    .iterate(pipeline)) {
    out.set(r.id, { hash: r.hash, state: r.state });
  }
  return out;
}

/** Current versions that did not succeed (failed, or never run): each job runs them again. */
export function currentUnfinished(store: Store, pipeline: string): DatumVersion[] {
  return store
    .stmt<DatumVersion>(
      `SELECT ${COLS} FROM datums INDEXED BY datums_todo WHERE pipeline = ? AND until IS NULL AND state <> 'success'`,
    )
    .all(pipeline);
}

/** A successful version of datum `id` with `hash` in the set of the job at `seq`: its output can be reused. */
export function reusableVersion(
  store: Store,
  pipeline: string,
  id: string,
  hash: string,
  seq: number,
): DatumVersion | undefined {
  return store
    .stmt<DatumVersion>(
      `SELECT ${COLS} FROM datums WHERE pipeline = ? AND id = ? AND since <= ? AND (until IS NULL OR until > ?) AND hash = ? AND state = 'success'`,
    )
    .get(pipeline, id, seq, seq, hash);
}

export function closeVersion(store: Store, pipeline: string, id: string, seq: number): boolean {
  return (
    store.stmt(`UPDATE datums SET until = ? WHERE pipeline = ? AND id = ? AND until IS NULL`).run(seq, pipeline, id)
      .changes > 0
  );
}

export function openVersion(store: Store, v: Omit<DatumVersion, 'until'>): void {
  store
    .stmt(
      `INSERT INTO datums (pipeline, id, since, until, job, hash, state, tries, started, finished, seconds, log, error, inputs, def)
       VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      v.pipeline,
      v.id,
      v.since,
      v.job,
      v.hash,
      v.state,
      v.tries,
      v.started,
      v.finished,
      v.seconds,
      v.log,
      v.error,
      v.inputs,
      v.def,
    );
}

/** The versions a job ran itself (outputs under its id), in id order. */
export function versionsRunBy(store: Store, job: string): DatumVersion[] {
  return store.stmt<DatumVersion>(`SELECT ${COLS} FROM datums WHERE job = ? ORDER BY id`).all(job);
}

/**
 * The datum set of the job at `seq` of `pipeline`, in id order, a page at a time (`after`: ids greater than it).
 * The latest job's set is read from the index of current versions.
 */
export function versionsOfJob(
  store: Store,
  pipeline: string,
  seq: number,
  latest: boolean,
  page: { limit?: number; after?: string } = {},
): DatumVersion[] {
  const limit = page.limit ?? -1;
  const after = page.after ?? '';
  if (latest) {
    return store
      .stmt<DatumVersion>(
        `SELECT ${COLS} FROM datums INDEXED BY datums_current WHERE pipeline = ? AND until IS NULL AND id > ? ORDER BY id LIMIT ?`,
      )
      .all(pipeline, after, limit);
  }
  return store
    .stmt<DatumVersion>(
      `SELECT ${COLS} FROM datums WHERE pipeline = ? AND id > ? AND since <= ? AND (until IS NULL OR until > ?) ORDER BY id LIMIT ?`,
    )
    .all(pipeline, after, seq, seq, limit);
}

export function versionInJob(store: Store, pipeline: string, id: string, seq: number): DatumVersion | undefined {
  return store
    .stmt<DatumVersion>(
      `SELECT ${COLS} FROM datums WHERE pipeline = ? AND id = ? AND since <= ? AND (until IS NULL OR until > ?)`,
    )
    .get(pipeline, id, seq, seq);
}

/** Up to two versions in the set of the job at `seq` whose id starts with `prefix` (two: it is ambiguous). */
export function versionsInJobByPrefix(store: Store, pipeline: string, prefix: string, seq: number): DatumVersion[] {
  return store
    .stmt<DatumVersion>(
      `SELECT * FROM datums WHERE pipeline = ? AND id >= ? AND id < ? AND since <= ? AND (until IS NULL OR until > ?) LIMIT 2`,
    )
    .all(pipeline, prefix, prefix + 'g', seq, seq);
}

/** Takes back what the job at `seq` did to the datum set: the versions it opened go, those it closed reopen. */
export function undoJobVersions(store: Store, pipeline: string, seq: number): void {
  store.stmt(`DELETE FROM datums WHERE pipeline = ? AND since = ?`).run(pipeline, seq);
  store.stmt(`UPDATE datums SET until = NULL WHERE pipeline = ? AND until = ?`).run(pipeline, seq);
}

/**
 * Datum versions whose range holds no remaining job of their pipeline (their jobs went with squashed or deleted
 * commits), then the outputs that no version refers to any more. Returns how many datums' outputs went (would go,
 * with `dryRun`).
 */
export function pruneDatumHistory(store: Store, dryRun: boolean): number {
  const orphanVersions = `
    SELECT d.pipeline, d.id, d.since FROM datums d
    WHERE d.until IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.pipeline = d.pipeline AND j.seq >= d.since AND j.seq < d.until)`;
  const orphanOutputs = `
    SELECT DISTINCT f.job, f.datum FROM datum_files f
    WHERE NOT EXISTS (SELECT 1 FROM datums d WHERE d.job = f.job AND d.id = f.datum)`;
  if (dryRun) {
    return (store.stmt(`SELECT count(*) AS n FROM (${orphanOutputs})`).get() as { n: number }).n;
  }
  store.db.exec(`DELETE FROM datums WHERE (pipeline, id, since) IN (${orphanVersions})`);
  const gone = store.stmt(orphanOutputs).all() as { job: string; datum: string }[];
  const del = store.stmt(`DELETE FROM datum_files WHERE job = ? AND datum = ?`);
  for (const g of gone) del.run(g.job, g.datum);
  return gone.length;
}

/** Every blob hash a file version or a datum output refers to. */
export function referencedBlobs(store: Store): Set<string> {
  const referenced = new Set<string>();
  for (const r of store
    .stmt(`SELECT DISTINCT hash FROM files UNION SELECT DISTINCT hash FROM datum_files`)
    .raw()
    .iterate() as Iterable<[string]>) {
    referenced.add(r[0]);
  }
  return referenced;
}

/** Current successful versions that entered the set after the job at `seq`. */
export function enteredSince(store: Store, pipeline: string, seq: number): DatumVersion[] {
  return store
    .stmt<DatumVersion>(
      `SELECT ${COLS} FROM datums WHERE pipeline = ? AND since > ? AND until IS NULL AND state = 'success'`,
    )
    .all(pipeline, seq);
}

/** Versions in the set of the job at `seq` that are no longer current. */
export function leftSince(store: Store, pipeline: string, seq: number): DatumVersion[] {
  return store
    .stmt<DatumVersion>(
      `SELECT ${COLS} FROM datums WHERE pipeline = ? AND until > ? AND until IS NOT NULL AND since <= ?`,
    )
    .all(pipeline, seq, seq);
}

export function currentSuccessful(store: Store, pipeline: string): DatumVersion[] {
  return store
    .stmt<DatumVersion>(
      `SELECT ${COLS} FROM datums INDEXED BY datums_current WHERE pipeline = ? AND until IS NULL AND state = 'success'`,
    )
    .all(pipeline);
}

export function recordSuccess(
  store: Store,
  key: { pipeline: string; id: string; since: number; job: string },
  r: { tries: number; started: string; finished: string; seconds: number; log: string; inputs: string },
  files: FileRow[],
): void {
  store
    .stmt(
      `UPDATE datums SET state = 'success', tries = ?, started = ?, finished = ?, seconds = ?, log = ?, error = NULL, inputs = ?, def = NULL
       WHERE pipeline = ? AND id = ? AND since = ?`,
    )
    .run(r.tries, r.started, r.finished, r.seconds, r.log, r.inputs, key.pipeline, key.id, key.since);
  setOutputs(store, key.job, key.id, files);
}

export function recordFailure(
  store: Store,
  key: { pipeline: string; id: string; since: number },
  r: { tries: number; started: string; finished: string; seconds: number; log: string; error: string },
): void {
  store
    .stmt(
      `UPDATE datums SET state = 'failed', tries = ?, started = ?, finished = ?, seconds = ?, log = ?, error = ? WHERE pipeline = ? AND id = ? AND since = ?`,
    )
    .run(r.tries, r.started, r.finished, r.seconds, r.log, r.error, key.pipeline, key.id, key.since);
}

export function outputsOf(store: Store, job: string, datum: string): FileRow[] {
  return store
    .stmt<FileRow>(`SELECT path, hash, size FROM datum_files WHERE job = ? AND datum = ? ORDER BY path`)
    .all(job, datum);
}

export function setOutputs(store: Store, job: string, datum: string, files: FileRow[]): void {
  store.stmt(`DELETE FROM datum_files WHERE job = ? AND datum = ?`).run(job, datum);
  const ins = store.stmt(`INSERT INTO datum_files (job, datum, path, hash, size) VALUES (?, ?, ?, ?, ?)`);
  for (const f of files) ins.run(job, datum, f.path, f.hash, f.size);
}

/** Current datums of `pipeline` whose outputs hold `path` or files under it (naming the writers of a conflict). */
export function currentWritersOf(store: Store, pipeline: string, path: string): string[] {
  const rows = store
    .stmt<{ id: string }>(
      `SELECT DISTINCT d.id FROM datum_files f JOIN datums d ON d.job = f.job AND d.id = f.datum
       WHERE (f.path = ? OR (f.path >= ? AND f.path < ?)) AND d.pipeline = ? AND d.until IS NULL ORDER BY d.id`,
    )
    .all(path, path + '/', path + '0', pipeline);
  return rows.map((r) => r.id);
}

/**
 * Drops the outputs of a version that left the datum set, unless a current version shares them (one taken back
 * from an older job). Its row stays, so the job that ran it still lists it; the output commits keep the files.
 */
export function pruneOutputs(store: Store, v: Pick<DatumVersion, 'pipeline' | 'id' | 'job'>): void {
  const shared = store
    .stmt(`SELECT 1 FROM datums WHERE pipeline = ? AND id = ? AND job = ? AND until IS NULL`)
    .get(v.pipeline, v.id, v.job);
  if (!shared) store.stmt(`DELETE FROM datum_files WHERE job = ? AND datum = ?`).run(v.job, v.id);
}

export function dropPipelineDatums(store: Store, pipeline: string): void {
  store.stmt(`DELETE FROM datum_files WHERE job IN (SELECT id FROM jobs WHERE pipeline = ?)`).run(pipeline);
  store.stmt(`DELETE FROM datums WHERE pipeline = ?`).run(pipeline);
}
