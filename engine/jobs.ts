/**
 * Pipelines in the store, jobs, datum execution and output commits (Pachyderm's PPS on one machine).
 *
 * A pipeline is due when the heads of its input branches differ from the inputs of its last job, when its spec
 * version changed, when its last job was interrupted (resumed), or when its last job failed (retried once per
 * `tessella run`). A job computes its datums over frozen input commits; a datum whose hash succeeded in the last
 * successful job is skipped and its output reused; the others run as separate processes. When every datum
 * succeeded and no two datums wrote the same path, the job's output commit (id = job id) is made in the same
 * transaction that marks the job successful, recording its input commits (provenance).
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync, linkSync, copyFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, type Logger } from '../shared/log.js';
import { pipelineOrder } from './dag.js';
import { computeDatums, datumHash, datumInputEnv, type Datum, type Snapshot } from './datums.js';
import { compileGlob } from './glob.js';
import { commitFiles, createRepo, dropRepo, filesOf, getRepo, headOf, commitById, newId, readersOf, walkLocal, type FileRow } from './pfs.js';
import { JobProgress } from './progress.js';
import { inputLeaves, inputsOf, parseDurationSeconds, PipelineSpecSchema, SpecError, type PipelineSpec } from './spec.js';
import { processAlive, processStartTime, selfStartTime } from './store/proc.js';
import { now, Store, StoreError } from './store/store.js';

// ---------------------------------------------------------------------------------------------------------
// Pipelines

export interface PipelineRow {
  name: string;
  spec: string;
  file: string | null;
  salt: string;
  version: number;
  created: string;
  updated: string;
}

export function getPipeline(store: Store, name: string): PipelineRow | undefined {
  return store.db.prepare(`SELECT * FROM pipelines WHERE name = ?`).get(name) as PipelineRow | undefined;
}

export function mustPipeline(store: Store, name: string): PipelineRow {
  const p = getPipeline(store, name);
  if (!p) throw new StoreError(`pipeline ${JSON.stringify(name)} not found`);
  return p;
}

export function specOf(row: PipelineRow): PipelineSpec {
  return JSON.parse(row.spec) as PipelineSpec;
}

export function allPipelines(store: Store): PipelineRow[] {
  return store.db.prepare(`SELECT * FROM pipelines ORDER BY name`).all() as PipelineRow[];
}

/** Repos that are not pipeline outputs. */
export function userRepos(store: Store): Set<string> {
  return new Set((store.db.prepare(`SELECT name FROM repos WHERE pipeline IS NULL`).all() as { name: string }[]).map((r) => r.name));
}

/** Pipelines in DAG order. */
export function orderedPipelines(store: Store): { row: PipelineRow; spec: PipelineSpec }[] {
  const rows = allPipelines(store);
  const byName = new Map(rows.map((r) => [r.name, r]));
  const specs = rows.map(specOf);
  return pipelineOrder(specs, userRepos(store), { files: new Map(rows.filter((r) => r.file).map((r) => [r.name, r.file!])) }).map((s) => ({
    row: byName.get(s.pipeline.name)!,
    spec: s,
  }));
}

export interface PutPipelinesResult {
  created: string[];
  updated: string[];
  unchanged: string[];
}

/**
 * Creates (or with `update`, replaces) pipelines from parsed specs, all in one transaction: validates globs, the
 * DAG (unknown input repos, cycles) and output repo names first; nothing changes on an error.
 * `update` keeps the salt (no reprocessing) unless `reprocess`; an unchanged spec is left as it is.
 */
export function putPipelines(
  store: Store,
  specs: PipelineSpec[],
  opts: { file?: string; update?: boolean; reprocess?: boolean; files?: Map<string, string> } = {},
): PutPipelinesResult {
  const result: PutPipelinesResult = { created: [], updated: [], unchanged: [] };
  for (const s of specs) {
    for (const { pfs, field } of inputLeaves(s.input)) {
      try {
        compileGlob(pfs.glob);
      } catch (e) {
        throw new SpecError(`${opts.files?.get(s.pipeline.name) ?? opts.file ?? `pipeline ${s.pipeline.name}`}: ${field}.glob: ${(e as Error).message}`, opts.file, `${field}.glob`);
      }
    }
  }
  store.tx(() => {
    const existing = allPipelines(store);
    const merged = new Map(existing.map((r) => [r.name, specOf(r)]));
    const files = new Map(existing.filter((r) => r.file).map((r) => [r.name, r.file!]));
    for (const s of specs) {
      const name = s.pipeline.name;
      const before = getPipeline(store, name);
      if (before && !opts.update) {
        throw new StoreError(`pipeline ${name} already exists: use \`tessella update pipeline -f ${opts.file ?? '<spec>'}\``);
      }
      const repo = getRepo(store, name);
      if (repo && repo.pipeline !== name) {
        throw new StoreError(`pipeline ${name} needs an output repo named ${name}, but a repo of that name already exists`);
      }
      merged.set(name, s);
      const f = opts.files?.get(name) ?? opts.file;
      if (f) files.set(name, f);
    }
    pipelineOrder([...merged.values()], userRepos(store), { files });
    for (const s of specs) {
      const name = s.pipeline.name;
      const text = JSON.stringify(s);
      const file = opts.files?.get(name) ?? opts.file ?? null;
      const before = getPipeline(store, name);
      if (!before) {
        store.db
          .prepare(`INSERT INTO pipelines (name, spec, file, salt, version, created, updated) VALUES (?, ?, ?, ?, 1, ?, ?)`)
          .run(name, text, file, s.salt ?? newId(), now(), now());
        createRepo(store, name, { pipeline: name, ifMissing: true, description: `output of pipeline ${name}` });
        result.created.push(name);
        continue;
      }
      if (before.spec === text && !opts.reprocess) {
        if (file && file !== before.file) store.db.prepare(`UPDATE pipelines SET file = ? WHERE name = ?`).run(file, name);
        result.unchanged.push(name);
        continue;
      }
      const salt = opts.reprocess ? newId() : (s.salt ?? before.salt);
      store.db
        .prepare(`UPDATE pipelines SET spec = ?, file = ?, salt = ?, version = version + 1, updated = ? WHERE name = ?`)
        .run(text, file ?? before.file, salt, now(), name);
      result.updated.push(name);
    }
  });
  return result;
}

/** Deletes a pipeline, its jobs and datums, and its output repo. Refuses while other pipelines read it. */
export function deletePipeline(store: Store, name: string, opts: { keepRepo?: boolean } = {}): void {
  store.tx(() => {
    mustPipeline(store, name);
    const readers = readersOf(store, name).filter((r) => r !== name);
    if (readers.length) throw new StoreError(`pipeline ${name} is an input of pipeline(s) ${readers.join(', ')}: delete those first`);
    const db = store.db;
    db.prepare(`DELETE FROM datum_files WHERE job IN (SELECT id FROM jobs WHERE pipeline = ?)`).run(name);
    db.prepare(`DELETE FROM datums WHERE job IN (SELECT id FROM jobs WHERE pipeline = ?)`).run(name);
    db.prepare(`DELETE FROM jobs WHERE pipeline = ?`).run(name);
    db.prepare(`DELETE FROM pipelines WHERE name = ?`).run(name);
    if (opts.keepRepo) db.prepare(`UPDATE repos SET pipeline = NULL WHERE name = ?`).run(name);
    else dropRepo(store, name);
  });
  rmSync(join(store.logsDir, name), { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------------------
// Jobs

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

export function listDatums(store: Store, job: string): DatumRow[] {
  return store.db.prepare(`SELECT * FROM datums WHERE job = ? ORDER BY id`).all(job) as DatumRow[];
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

// ---------------------------------------------------------------------------------------------------------
// Running

/** The folder holding tessella's package.json (specs' `/app`), or $TESSELLA_APP_DIR. */
export function appDir(): string {
  if (process.env.TESSELLA_APP_DIR) return resolve(process.env.TESSELLA_APP_DIR);
  let d = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(d, 'package.json');
    if (existsSync(pj)) {
      try {
        if (JSON.parse(readFileSync(pj, 'utf8')).name === 'tessella') return d;
      } catch {
        /* keep looking */
      }
    }
    const up = dirname(d);
    if (up === d) return process.cwd();
    d = up;
  }
}

let gpuCache: string[] | undefined;

/** GPU ids: $TESSELLA_GPUS (a count or a list like "0,2"), else one per line of `nvidia-smi -L`. */
export function gpuIds(): string[] {
  const env = process.env.TESSELLA_GPUS;
  if (env !== undefined && env.trim() !== '') {
    const t = env.trim();
    return /^\d+$/.test(t) ? Array.from({ length: Number(t) }, (_, i) => String(i)) : t.split(',').map((s) => s.trim()).filter(Boolean);
  }
  if (gpuCache) return gpuCache;
  try {
    const out = execFileSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 10000, stdio: ['ignore', 'pipe', 'ignore'] });
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
  const cap = Number(process.env.TESSELLA_MAX_PARALLEL) > 0 ? Number(process.env.TESSELLA_MAX_PARALLEL) : availableParallelism();
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

/** Pachyderm specs say `/pfs/...`; locally each datum has its own root. */
export function rewritePfs(text: string, root: string): string {
  return text.replace(/(^|[^\w./-])\/pfs(?=\/|$|[^\w.-])/g, (_m, pre: string) => pre + root);
}

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

interface Running {
  children: Set<number>;
  interrupted: boolean;
}

const active: Running = { children: new Set(), interrupted: false };

/** Kills every datum process this process started (their process groups). */
export function killChildren(): void {
  active.interrupted = true;
  for (const pid of active.children) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/**
 * Runs every due job in DAG order until nothing is due (a pipeline whose job fails is not retried in the same
 * call). Holds the store's runner claim meanwhile.
 */
export async function runJobs(store: Store, opts: RunOptions = {}): Promise<JobResult[]> {
  const log = opts.log ?? createLogger('tessella');
  await store.acquireRunner('tessella run', opts.waitMs, (m) => log.info(m));
  const results: JobResult[] = [];
  const failed = new Set<string>();
  try {
    store.cleanScratch();
    for (;;) {
      const due = duePipelines(store).find((d) => !failed.has(d.row.name));
      if (!due) break;
      const r = await runJob(store, due, log);
      results.push(r);
      opts.onJob?.(r);
      if (r.state !== 'success') failed.add(r.pipeline);
      if (active.interrupted) break;
    }
  } finally {
    store.releaseRunner();
  }
  return results;
}

function startJob(store: Store, due: Due): JobRow {
  if (due.kind === 'resume') {
    store.db.prepare(`UPDATE jobs SET pid = ?, pid_start = ? WHERE id = ?`).run(process.pid, selfStartTime, due.job.id);
    return getJob(store, due.job.id)!;
  }
  return store.tx(() => {
    // an interrupted job that will not be resumed (its spec changed) ends as killed
    store.db
      .prepare(`UPDATE jobs SET state = 'killed', finished = ?, reason = 'interrupted; superseded by a newer job' WHERE pipeline = ? AND state = 'running'`)
      .run(now(), due.row.name);
    const id = newId();
    store.db
      .prepare(`INSERT INTO jobs (id, pipeline, version, salt, state, inputs, created, started, pid, pid_start) VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)`)
      .run(id, due.row.name, due.row.version, due.row.salt, JSON.stringify(due.inputs), now(), now(), process.pid, selfStartTime);
    return getJob(store, id)!;
  });
}

/** Runs (or resumes) one job to its end. */
export async function runJob(store: Store, due: Due, log: Logger): Promise<JobResult> {
  const spec = due.spec;
  const job = startJob(store, due);
  const inputs = JSON.parse(job.inputs) as JobInput[];
  const result: JobResult = { pipeline: job.pipeline, job: job.id, state: 'running', total: 0, processed: 0, skipped: 0, failed: 0, recovered: 0, seconds: 0, failures: [] };

  const snapshots = new Map<string, Snapshot>();
  const snapshotOf = (repo: string, branch: string): Snapshot => {
    const key = `${repo}@${branch}`;
    let s = snapshots.get(key);
    if (!s) {
      const inp = inputs.find((i) => i.repo === repo && i.branch === branch);
      const c = inp?.commit ? commitById(store, inp.commit) : undefined;
      s = { repo, branch, commit: c?.id ?? '', files: c ? filesOf(store, c.seq) : [] };
      snapshots.set(key, s);
    }
    return s;
  };
  let datums: Datum[];
  try {
    datums = computeDatums(spec.input, snapshotOf);
  } catch (e) {
    return finishFailed(store, job, result, `cannot compute datums: ${(e as Error).message}`, log);
  }
  result.total = datums.length;

  // what this job already did (an interrupted run), and what earlier jobs did that can be reused
  const own = new Map((store.db.prepare(`SELECT id, hash, state FROM datums WHERE job = ?`).all(job.id) as { id: string; hash: string; state: string }[]).map((d) => [d.id, d]));
  const reuse = new Map<string, { job: string; datum: string }>();
  const addReusable = (from: JobRow | undefined) => {
    if (!from) return;
    for (const d of store.db.prepare(`SELECT id, hash, state FROM datums WHERE job = ? AND state IN ('success', 'skipped')`).all(from.id) as { id: string; hash: string }[]) {
      if (!reuse.has(d.hash)) reuse.set(d.hash, { job: from.id, datum: d.id });
    }
  };
  if (spec.reprocessSpec !== 'every_job') {
    const lastOk = store.db.prepare(`SELECT * FROM jobs WHERE pipeline = ? AND state = 'success' AND seq < ? ORDER BY seq DESC LIMIT 1`).get(job.pipeline, job.seq) as JobRow | undefined;
    addReusable(lastOk);
    if (due.kind === 'new' && due.inherit) addReusable(due.inherit);
  }

  const queue: { datum: Datum; hash: string }[] = [];
  const insSkip = store.db.prepare(
    `INSERT INTO datums (job, id, hash, state, tries, reused_from, started, finished, seconds, inputs) VALUES (?, ?, ?, 'skipped', 0, ?, ?, ?, 0, ?)`,
  );
  const copyFiles = store.db.prepare(`INSERT INTO datum_files (job, datum, path, hash, size) SELECT ?, datum, path, hash, size FROM datum_files WHERE job = ? AND datum = ?`);
  const delDatum = store.db.prepare(`DELETE FROM datums WHERE job = ? AND id = ?`);
  const delFiles = store.db.prepare(`DELETE FROM datum_files WHERE job = ? AND datum = ?`);
  const ids = new Set<string>();
  store.tx(() => {
    const t = now();
    for (const d of datums) {
      if (ids.has(d.id)) continue;
      ids.add(d.id);
      const h = datumHash(d, job.salt);
      const mine = own.get(d.id);
      if (mine && mine.hash === h && (mine.state === 'success' || mine.state === 'skipped')) {
        result.recovered++;
        continue;
      }
      if (mine) {
        delDatum.run(job.id, d.id);
        delFiles.run(job.id, d.id);
      }
      const src = reuse.get(h);
      if (src) {
        insSkip.run(job.id, d.id, h, src.job, t, t, datumInputsJson(d));
        copyFiles.run(job.id, src.job, src.datum);
        result.skipped++;
      } else queue.push({ datum: d, hash: h });
    }
    // datums of an interrupted run that no longer exist
    for (const id of own.keys()) {
      if (!ids.has(id)) {
        delDatum.run(job.id, id);
        delFiles.run(job.id, id);
      }
    }
    store.db.prepare(`UPDATE jobs SET n_total = ? WHERE id = ?`).run(ids.size, job.id);
  });
  result.total = ids.size;

  const progress = new JobProgress(log, job.pipeline, job.id, result.total);
  progress.processed = result.recovered;
  progress.skipped = result.skipped;
  log.info('job started', { pipeline: job.pipeline, job: job.id, datums: result.total, to_run: queue.length, skipped: result.skipped, resumed: result.recovered });
  if (queue.length) progress.draw();

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
  mkdirSync(ctx.logDir, { recursive: true });
  let next = 0;
  const worker = async (gpus: string[]) => {
    while (next < queue.length && !active.interrupted) {
      const item = queue[next++];
      const r = await runDatum(ctx, item.datum, item.hash, gpus);
      if (r.ok) {
        result.processed++;
        progress.update('processed');
      } else {
        result.failed++;
        result.failures.push({ datum: item.datum.id, log: r.log, error: r.error });
        progress.update('failed');
        log.error('datum failed', { pipeline: job.pipeline, job: job.id, datum: item.datum.id, error: r.error, log: r.log });
      }
    }
  };
  await Promise.all(slots.map((g) => worker(g)));
  await Promise.all([...removals]);
  result.seconds = progress.end();
  if (active.interrupted) {
    result.state = 'running';
    result.reason = 'interrupted';
    return result;
  }

  store.db.prepare(`UPDATE jobs SET n_processed = ?, n_skipped = ?, n_failed = ?, n_recovered = ? WHERE id = ?`).run(
    result.processed + result.recovered,
    result.skipped,
    result.failed,
    result.recovered,
    job.id,
  );
  if (result.failed) {
    const f = result.failures[0];
    return finishFailed(store, job, result, `${result.failed} datum(s) failed; first: ${f.datum}: ${f.error} (log: ${f.log})`, log);
  }
  return finishJob(store, job, inputs, result, log);
}

function datumInputsJson(d: Datum): string {
  return JSON.stringify(d.inputs.map((i) => ({ name: i.name, repo: i.repo, branch: i.branch, commit: i.commit, path: i.path, files: i.files.length })));
}

function finishFailed(store: Store, job: JobRow, result: JobResult, reason: string, log: Logger): JobResult {
  store.db.prepare(`UPDATE jobs SET state = 'failure', finished = ?, reason = ?, pid = NULL WHERE id = ?`).run(now(), reason, job.id);
  result.state = 'failure';
  result.reason = reason;
  log.error('job failed', { pipeline: job.pipeline, job: job.id, reason, processed: result.processed, skipped: result.skipped, failed: result.failed });
  return result;
}

function finishJob(store: Store, job: JobRow, inputs: JobInput[], result: JobResult, log: Logger): JobResult {
  const rows = store.db.prepare(`SELECT datum, path, hash, size FROM datum_files WHERE job = ? ORDER BY path`).all(job.id) as (FileRow & { datum: string })[];
  // two datums writing one path, or a file where another datum writes a folder
  for (let i = 1; i < rows.length; i++) {
    const a = rows[i - 1];
    const b = rows[i];
    if (a.path === b.path) {
      return finishFailed(store, job, result, `datums ${a.datum} and ${b.datum} both write ${a.path}`, log);
    }
  }
  const files = new Set(rows.map((r) => r.path));
  for (const r of rows) {
    for (let i = r.path.lastIndexOf('/'); i > 0; i = r.path.lastIndexOf('/', i - 1)) {
      const anc = r.path.slice(0, i);
      if (files.has(anc)) {
        const other = rows.find((x) => x.path === anc)!;
        return finishFailed(store, job, result, `datum ${other.datum} writes the file ${anc} and datum ${r.datum} writes ${r.path} under it`, log);
      }
    }
  }
  store.tx(() => {
    commitFiles(
      store,
      job.pipeline,
      'master',
      rows.map((r) => ({ path: r.path, hash: r.hash, size: r.size })),
      { origin: 'job', job: job.id, id: job.id, provenance: inputs.filter((i) => i.commit) },
    );
    store.db.prepare(`UPDATE jobs SET state = 'success', finished = ?, pid = NULL WHERE id = ?`).run(now(), job.id);
  });
  result.state = 'success';
  log.info('job succeeded', {
    pipeline: job.pipeline,
    job: job.id,
    datums: result.total,
    processed: result.processed,
    skipped: result.skipped,
    resumed: result.recovered,
    files: rows.length,
    seconds: Math.round(result.seconds * 1000) / 1000,
  });
  return result;
}

interface DatumContext {
  store: Store;
  spec: PipelineSpec;
  job: JobRow;
  tries: number;
  timeoutS?: number;
  workingDir: string;
  logDir: string;
}

/** Runs one datum up to `tries` times; on success its outputs are in the store and recorded. */
async function runDatum(ctx: DatumContext, datum: Datum, hash: string, gpus: string[]): Promise<{ ok: true } | { ok: false; error: string; log: string }> {
  const { store, spec, job } = ctx;
  const logPath = join(ctx.logDir, `${datum.id}.log`);
  const started = now();
  const t0 = performance.now();
  let error = '';
  let attempt = 0;
  for (attempt = 1; attempt <= ctx.tries && !active.interrupted; attempt++) {
    const scratch = join(store.scratchDir, `${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      materialize(store, datum, scratch);
      const logFd = openSync(logPath, 'a');
      try {
        writeSync(logFd, `--- datum ${datum.id} attempt ${attempt}/${ctx.tries} ${now()}\n`);
        error = await execDatum(ctx, datum, scratch, logFd, gpus);
        if (!error) {
          const files = await ingest(store, join(scratch, 'out'));
          store.tx(() => {
            store.db
              .prepare(
                `INSERT OR REPLACE INTO datums (job, id, hash, state, tries, started, finished, seconds, log, inputs) VALUES (?, ?, ?, 'success', ?, ?, ?, ?, ?, ?)`,
              )
              .run(job.id, datum.id, hash, attempt, started, now(), (performance.now() - t0) / 1000, logPath, datumInputsJson(datum));
            store.db.prepare(`DELETE FROM datum_files WHERE job = ? AND datum = ?`).run(job.id, datum.id);
            const ins = store.db.prepare(`INSERT INTO datum_files (job, datum, path, hash, size) VALUES (?, ?, ?, ?, ?)`);
            for (const f of files) ins.run(job.id, datum.id, f.path, f.hash, f.size);
          });
          return { ok: true };
        }
        writeSync(logFd, `--- attempt ${attempt} failed: ${error}\n`);
      } finally {
        closeSync(logFd);
      }
    } catch (e) {
      error = (e as Error).message;
    } finally {
      rmScratch(scratch);
    }
  }
  if (active.interrupted) return { ok: false, error: 'interrupted', log: logPath };
  const tries = attempt - 1;
  store.db
    .prepare(
      `INSERT OR REPLACE INTO datums (job, id, hash, state, tries, started, finished, seconds, log, error, inputs) VALUES (?, ?, ?, 'failed', ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(job.id, datum.id, hash, tries, started, now(), (performance.now() - t0) / 1000, logPath, error, datumInputsJson(datum));
  void spec;
  return { ok: false, error: `${error} (after ${tries} ${tries === 1 ? 'try' : 'tries'})`, log: logPath };
}

/** Scratch folders being removed in the background (awaited before the job ends). */
const removals = new Set<Promise<void>>();

function rmScratch(dir: string): void {
  const p: Promise<void> = rm(dir, { recursive: true, force: true })
    .catch(() => rmScratchSync(dir))
    .finally(() => removals.delete(p));
  removals.add(p);
}

function rmScratchSync(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // read-only inputs under a folder the datum made read-only: make writable and retry
    try {
      execFileSync('chmod', ['-R', 'u+w', dir], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    } catch {
      /* left for cleanScratch */
    }
  }
}

/** Inputs under `<scratch>/<name>/<repo path>`: hard links to the read-only blobs, copies across file systems. */
function materialize(store: Store, datum: Datum, scratch: string): void {
  mkdirSync(join(scratch, 'out'), { recursive: true });
  const made = new Set<string>();
  let canLink = true;
  for (const input of datum.inputs) {
    const base = join(scratch, input.name);
    if (!made.has(base)) {
      mkdirSync(base, { recursive: true });
      made.add(base);
    }
    for (const f of input.files) {
      const dest = join(base, f.path);
      const dir = dirname(dest);
      if (!made.has(dir)) {
        mkdirSync(dir, { recursive: true });
        made.add(dir);
      }
      if (existsSync(dest)) continue; // the same file mounted twice (a group of one repo)
      if (input.emptyFiles) {
        writeFileSync(dest, '');
        continue;
      }
      const src = store.blobs.pathOf(f.hash);
      if (canLink) {
        try {
          linkSync(src, dest);
          continue;
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw e;
          canLink = false;
        }
      }
      copyFileSync(src, dest);
    }
  }
}

/** Starts the datum's process; resolves '' on success, else what went wrong. */
function execDatum(ctx: DatumContext, datum: Datum, scratch: string, logFd: number, gpus: string[]): Promise<string> {
  const { spec, job } = ctx;
  const root = scratch;
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  for (const [k, v] of Object.entries((spec.transform.env ?? {}) as Record<string, string>)) env[k] = rewritePfs(String(v), root);
  Object.assign(env, datumInputEnv(datum, root));
  for (const i of datum.inputs) {
    if (i.joinOn !== undefined) env[`PACH_DATUM_${i.name}_JOIN_ON`] = i.joinOn;
    if (i.groupBy !== undefined) env[`PACH_DATUM_${i.name}_GROUP_BY`] = i.groupBy;
  }
  env.PACH_DATUM_ID = datum.id;
  env.PACH_JOB_ID = job.id;
  env.PACH_OUTPUT_COMMIT_ID = job.id;
  env.PPS_PIPELINE_NAME = job.pipeline;
  env.PFS_ROOT = root;
  if (gpus.length) env.CUDA_VISIBLE_DEVICES = gpus.join(',');
  const cmd = spec.transform.cmd.map((a) => rewritePfs(a, root));
  const stdin = spec.transform.stdin as string[] | undefined;
  const accept = new Set<number>([0, ...((spec.transform.acceptReturnCode as number[] | undefined) ?? [])]);
  if (!existsSync(ctx.workingDir) || !statSync(ctx.workingDir).isDirectory()) {
    return Promise.resolve(`workingDir ${ctx.workingDir} does not exist`);
  }
  return new Promise((resolvePromise) => {
    let settled = false;
    let timedOut = false;
    const done = (msg: string) => {
      if (settled) return;
      settled = true;
      resolvePromise(msg);
    };
    const child = spawn(cmd[0], cmd.slice(1), {
      cwd: ctx.workingDir,
      env,
      stdio: [stdin ? 'pipe' : 'ignore', logFd, logFd],
      detached: true,
    });
    const pid = child.pid;
    if (pid) {
      active.children.add(pid);
      // lets a later run kill this process group if we die first
      try {
        writeFileSync(join(scratch, '.child'), `${pid} ${processStartTime(pid)}\n`);
      } catch {
        /* scratch gone */
      }
    }
    let timer: NodeJS.Timeout | undefined;
    if (ctx.timeoutS && ctx.timeoutS > 0) {
      timer = setTimeout(() => {
        timedOut = true;
        try {
          process.kill(-pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, ctx.timeoutS * 1000);
    }
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      if (pid) active.children.delete(pid);
      done(`cannot start ${JSON.stringify(cmd[0])}: ${e.message}`);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (pid) active.children.delete(pid);
      // leftovers of the process group (background jobs of a shell) do not outlive the datum
      try {
        process.kill(-pid!, 'SIGKILL');
      } catch {
        /* none */
      }
      if (timedOut) done(`timed out after datumTimeout ${spec.datumTimeout}`);
      else if (signal) done(`killed by ${signal}`);
      else if (code !== null && accept.has(code)) done('');
      else done(`exit code ${code}`);
    });
    if (stdin && child.stdin) {
      child.stdin.on('error', () => undefined); // the process may exit without reading it all
      child.stdin.end(stdin.map((l) => rewritePfs(l, root)).join('\n') + '\n');
    }
  });
}

/** Takes every file under a datum's out/ into the blob store. */
async function ingest(store: Store, out: string): Promise<FileRow[]> {
  const files: FileRow[] = [];
  for (const f of walkLocal(out)) {
    const ref = await store.blobs.adoptFile(f);
    files.push({ path: '/' + relative(out, f).split('\\').join('/'), ...ref });
  }
  return files;
}

export { PipelineSpecSchema };
