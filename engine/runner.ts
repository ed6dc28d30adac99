/**
 * Running jobs (Pachyderm's PPS workers on one machine). A job computes its datums over frozen input commits; a
 * datum whose hash succeeded in the last successful job is skipped and its output reused; the others run as
 * separate processes. When every datum succeeded and no two datums wrote the same path, the job's output commit
 * (id = job id) is made in the same transaction that marks the job successful, recording its input commits
 * (provenance).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { createLogger, type Logger } from '../shared/log.js';
import { computeDatums, datumHash, type Datum, type Snapshot } from './datums.js';
import { commitFiles, filesOf, commitById, newId, type FileRow } from './pfs.js';
import { JobProgress } from './progress.js';
import { parseDurationSeconds, type PipelineSpec } from './spec.js';
import { selfStartTime } from './store/proc.js';
import { now, Store } from './store/store.js';
import { appDir } from './app-dir.js';
import { active, datumInputsJson, runDatum, scratchRemovals, type DatumContext } from './datum-process.js';
import { downstreamOf } from './dag.js';
import { orderedPipelines } from './pipelines.js';
import { dueOf, duePipelines, getJob, type Due, type JobInput, type JobRow, type JobState } from './jobs.js';
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
      if (r.state !== 'success') {
        failed.add(r.pipeline);
        // Downstream jobs would mix this pipeline's old output with their other inputs' new ones: hold them back
        // until it succeeds (Pachyderm does not run them either).
        const ordered = orderedPipelines(store);
        const below = new Set(downstreamOf(r.pipeline, ordered.map((p) => p.spec)).map((s) => s.pipeline.name));
        for (const { row, spec } of ordered) {
          if (!below.has(row.name) || failed.has(row.name)) continue;
          failed.add(row.name);
          if (dueOf(store, row, spec)) log.warn('job held back', { pipeline: row.name, because: `upstream pipeline ${r.pipeline} failed` });
        }
      }
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
  await scratchRemovals();
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

