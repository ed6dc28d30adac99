/**
 * Recording a plan's changes to the pipeline's datum set (store/datum-versions.ts): a datum that changed is taken
 * back from the last successful job when its hash ran there, else queued to run. Only changed datums cost a row.
 */
import type { Store } from '../store/store.js';
import { closeVersion, openVersion, reusableVersion } from '../store/datum-versions.js';
import { type Datum, datumInputsJson } from './datums.js';
import type { JobRow } from './jobs.js';
import { defJson, type Trees } from './plan-trees.js';

export interface QueuedDatum {
  datum: Datum;
  hash: string;
}

/** The incremental pass cannot plan this job: the full pass does. */
export class Fallback extends Error {}

export interface Ctx {
  store: Store;
  job: JobRow;
  trees: Trees;
  everyJob: boolean;
  lastOk: JobRow | undefined;
  queue: QueuedDatum[];
  skipped: number;
  /** datums new to the set, and datums that left it (the job's total follows from the last one's) */
  added: number;
  dropped: number;
}

/** A datum whose hash differs from its current version (or that has none, or did not succeed): reuse or queue it. */
export function change(ctx: Ctx, d: Datum, hash: string, current: { hash: string; state: string } | undefined): void {
  const { store, job } = ctx;
  if (current) closeVersion(store, job.pipeline, d.id, job.seq);
  else ctx.added++;
  const from =
    !ctx.everyJob && ctx.lastOk ? reusableVersion(store, job.pipeline, d.id, hash, ctx.lastOk.seq) : undefined;
  if (from) {
    // taken back from the last successful job: its outputs stay under the job that ran it
    openVersion(store, { ...from, since: job.seq, inputs: datumInputsJson(d), def: null });
    ctx.skipped++;
    return;
  }
  openVersion(store, {
    pipeline: job.pipeline,
    id: d.id,
    since: job.seq,
    job: job.id,
    hash,
    state: 'pending',
    tries: 0,
    started: null,
    finished: null,
    seconds: null,
    log: null,
    error: null,
    inputs: datumInputsJson(d),
    def: defJson(d),
  });
  ctx.queue.push({ datum: d, hash });
}
