/**
 * Planning a job: which datums it runs, which it takes from the last one unchanged, which it drops. Writes rows
 * only for the datums that change (store/datum-versions.ts); the unchanged ones cost nothing but being counted.
 *
 * Incremental when the previous job of the pipeline read the same input spec with the same salt and its input
 * commits still exist: each input repo's changed paths between the two jobs' commits give the matched paths
 * (datum inputs) that changed, and the input tree (cross, union, join, group) maps those to the datums that
 * changed, read from the store by path. Anything else (a first job, a changed spec or salt, a squashed input
 * commit, two crossed inputs changing at once, a join key that cannot be turned back into paths) takes the full
 * pass: every datum computed and hashed in memory, still writing only for the changed ones.
 */
import { createHash } from 'node:crypto';
import { currentHashes, versionsRunBy, closeVersion } from '../store/datum-versions.js';
import type { Store } from '../store/store.js';
import { computeDatums, datumHash } from './datums.js';
import type { JobInput, JobRow } from './jobs.js';
import { change, type Ctx, Fallback, type QueuedDatum } from './plan-changes.js';
import { incremental } from './plan-incremental.js';
import { datumFromDef, Trees } from './plan-trees.js';
import type { Input, PipelineSpec } from './spec/pipeline-spec.js';

export interface Plan {
  total: number;
  queue: QueuedDatum[];
  skipped: number;
  recovered: number;
  /** 'incremental' | 'full' | 'resume': how the datums were found (logged) */
  mode: 'incremental' | 'full' | 'resume';
}

/** What makes two jobs' datums comparable: the input spec, the salt, and whether every job reprocesses. */
export function inputKey(spec: PipelineSpec, salt: string): string {
  return createHash('sha256')
    .update(JSON.stringify(spec.input))
    .update('\0' + salt + '\0' + (spec.reprocessSpec ?? ''))
    .digest('hex');
}

/** Plans a new job (inside the caller's transaction). `prev` is the pipeline's previous job, `lastOk` its last successful one. */
export function planJob(
  store: Store,
  job: JobRow,
  spec: PipelineSpec,
  inputs: JobInput[],
  prev: JobRow | undefined,
  lastOk: JobRow | undefined,
): Plan {
  const trees = new Trees(store, inputs);
  const everyJob = spec.reprocessSpec === 'every_job';
  const ctx: Ctx = { store, job, trees, everyJob, lastOk, queue: [], skipped: 0, added: 0, dropped: 0 };
  let mode: Plan['mode'] = 'full';
  let planned = false;
  if (prev && !everyJob && prev.input_key === job.input_key && prev.state !== 'running') {
    try {
      // a nested transaction is a savepoint: a fallback undoes what the incremental pass wrote
      store.db.transaction(() => incremental(ctx, spec.input, inputs, prev))();
      planned = true;
      mode = 'incremental';
    } catch (e) {
      if (!(e instanceof Fallback)) throw e;
      ctx.queue = [];
      ctx.skipped = 0;
      ctx.added = 0;
      ctx.dropped = 0;
    }
  }
  let total: number;
  if (planned) total = prev!.n_total + ctx.added - ctx.dropped;
  else total = full(ctx, spec.input);
  return { total, queue: ctx.queue, skipped: total - ctx.queue.length, recovered: 0, mode };
}

/** The plan of an interrupted job, resumed: what it had not finished, over the same input commits. */
export function resumePlan(store: Store, job: JobRow, inputs: JobInput[]): Plan {
  const trees = new Trees(store, inputs);
  const queue: QueuedDatum[] = [];
  let recovered = 0;
  for (const v of versionsRunBy(store, job.id)) {
    if (v.since !== job.seq) continue;
    if (v.state === 'success') recovered++;
    else if (v.def) queue.push({ datum: datumFromDef(v.def, trees), hash: v.hash });
  }
  const total = job.n_total;
  return { total, queue, skipped: total - queue.length - recovered, recovered, mode: 'resume' };
}

/** Every datum computed and hashed; returns how many there are. */
function full(ctx: Ctx, input: Input): number {
  const { store, job } = ctx;
  const datums = computeDatums(input, (repo, branch, glob) => ctx.trees.snapshot(repo, branch, glob));
  const current = currentHashes(store, job.pipeline);
  const ids = new Set<string>();
  for (const d of datums) {
    ids.add(d.id);
    const h = datumHash(d, job.salt);
    const cur = current.get(d.id);
    if (cur && cur.hash === h && cur.state === 'success' && !ctx.everyJob) continue;
    change(ctx, d, h, cur);
  }
  for (const id of current.keys()) if (!ids.has(id)) closeVersion(store, job.pipeline, id, job.seq);
  return ids.size;
}
