/**
 * Reclaiming space, with Pachyderm's semantics for dropping versions:
 * - `squash commit`: a commit's changes move into its child and the commit is gone, with every output commit
 *   whose provenance holds it (their changes move into their own children). Refused when one of them has no
 *   child: a branch head, and the provenance of one, is never removed.
 * - `delete commit`: a head commit and its data are gone, with every output commit whose provenance holds it
 *   (each must be its branch's head) and the jobs that made them; the branch heads move back to the parents.
 * - `gc`: removes blobs that no file version and no datum output refers to, datum outputs of versions that no
 *   remaining job's datum set holds, and scratch and temp files of dead processes.
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger, type Logger } from '../../shared/log.js';
import { setBranchHead } from '../store/branch-rows.js';
import {
  type CommitRow,
  commitById,
  commitsMadeFrom,
  deleteCommitRow,
  firstChildOf,
  setCommitParent,
} from '../store/commit-rows.js';
import { pruneDatumHistory, referencedBlobs, undoJobVersions } from '../store/datum-versions.js';
import { dropVersionsLivingOnlyIn, undoCommitVersions } from '../store/files.js';
import { deleteJob, jobById, jobsFrom } from '../store/job-rows.js';
import { resolveCommit } from './commits.js';
import { refuseIfDamaged } from '../store/integrity.js';
import { liveStagers } from '../store/staging.js';
import { StoreError, type Store } from '../store/store.js';

export interface GcResult {
  blobs_removed: number;
  bytes_freed: number;
  scratch_removed: number;
  temp_removed: number;
  datum_outputs_pruned: number;
}

export interface RemovedCommit {
  repo: string;
  commit: string;
}

/** Removes what nothing references. Holds the store's runner claim, so no job adds blobs meanwhile. */
export async function gc(
  store: Store,
  opts: { dryRun?: boolean; waitMs?: number; log?: Logger } = {},
): Promise<GcResult> {
  const log = opts.log ?? createLogger('tessella');
  await store.acquireRunner('tessella gc', opts.waitMs, (m) => log.info(m));
  try {
    // gc deletes what the rows do not name: on a damaged file it would delete what damaged rows lost
    refuseIfDamaged(store.db, store.home, 'full', 'gc is');
    const stagers = liveStagers(store);
    if (stagers.length) {
      throw new StoreError(
        `a put is in progress (pid ${stagers.map((s) => s.pid).join(', ')}): its files are in the store but not yet committed; run gc when it is done`,
        75,
      );
    }
    const result: GcResult = {
      blobs_removed: 0,
      bytes_freed: 0,
      scratch_removed: 0,
      temp_removed: 0,
      datum_outputs_pruned: 0,
    };
    const referenced = store.tx(() => {
      result.datum_outputs_pruned = pruneDatumHistory(store, opts.dryRun === true);
      return referencedBlobs(store);
    });
    for (const shard of readdirSync(store.blobs.dir)) {
      const dir = join(store.blobs.dir, shard);
      for (const name of readdirSync(dir)) {
        if (referenced.has(name)) continue;
        const p = join(dir, name);
        result.bytes_freed += statSync(p).size;
        result.blobs_removed++;
        if (!opts.dryRun) rmSync(p, { force: true });
      }
    }
    if (!opts.dryRun) {
      result.scratch_removed = store.cleanScratch();
      result.temp_removed = store.blobs.cleanTemp();
    }
    return result;
  } finally {
    store.releaseRunner();
  }
}

/** A commit and, transitively, every commit whose provenance holds one of them. */
function withDownstream(store: Store, c: CommitRow): CommitRow[] {
  const out = new Map<string, CommitRow>([[c.id, c]]);
  const todo = [c.id];
  while (todo.length) {
    const id = todo.pop()!;
    for (const made of commitsMadeFrom(store, id)) {
      if (out.has(made)) continue;
      const d = commitById(store, made);
      if (!d) continue;
      out.set(d.id, d);
      todo.push(d.id);
    }
  }
  return [...out.values()];
}

function childOf(store: Store, c: CommitRow): CommitRow | undefined {
  return firstChildOf(store, c.id);
}

function refuseWhileRunning(store: Store, what: string): void {
  const holder = store.runnerHolder();
  if (holder && !store.runnerHeld) {
    throw new StoreError(
      `cannot ${what} while tessella pid ${holder.pid} (\`${holder.command}\`) runs jobs; try again when it finishes`,
      75,
    );
  }
}

export function squashCommit(store: Store, repo: string, ref: string): RemovedCommit[] {
  refuseWhileRunning(store, 'squash commits');
  return store.tx(() => {
    const c = resolveCommit(store, repo, ref);
    const all = withDownstream(store, c);
    const children = new Map<string, CommitRow>();
    for (const x of all) {
      const ch = childOf(store, x);
      if (!ch) {
        const why = x.id === c.id ? '' : ` (its provenance holds ${repo}@${c.id})`;
        throw new StoreError(
          `cannot squash ${repo}@${c.id}: ${x.repo}@${x.id}${why} has no child commit, and a squash moves a commit's changes into its child; ` +
            `commit again on top of it first, or use \`tessella delete commit\` to drop a head`,
        );
      }
      children.set(x.id, ch);
    }
    for (const x of all) {
      const ch = children.get(x.id)!;
      // versions that lived in this commit alone go; the others already reach the child
      dropVersionsLivingOnlyIn(store, x.repo, x.branch, x.seq, ch.seq);
      setCommitParent(store, ch.id, x.parent);
      deleteCommitRow(store, x.id);
      if (x.origin === 'job') deleteJob(store, x.id);
    }
    return all.map((x) => ({ repo: x.repo, commit: x.id }));
  });
}

export function deleteCommit(store: Store, repo: string, ref: string): RemovedCommit[] {
  refuseWhileRunning(store, 'delete commits');
  return store.tx(() => {
    const c = resolveCommit(store, repo, ref);
    const all = withDownstream(store, c);
    for (const x of all) {
      if (childOf(store, x)) {
        const why = x.id === c.id ? '' : ` (its provenance holds ${repo}@${c.id})`;
        throw new StoreError(
          `cannot delete ${repo}@${c.id}: ${x.repo}@${x.id}${why} has child commits; delete those first, or squash it to keep its changes`,
        );
      }
    }
    for (const x of all) {
      undoCommitVersions(store, x.repo, x.branch, x.seq);
      setBranchHead(store, x.repo, x.branch, x.parent);
      deleteCommitRow(store, x.id);
      if (x.origin === 'job') undoJobsFrom(store, x.id);
    }
    return all.map((x) => ({ repo: x.repo, commit: x.id }));
  });
}

/** Takes back a job and every later job of its pipeline: their datum sets and rows, newest first. */
function undoJobsFrom(store: Store, jobId: string): void {
  const job = jobById(store, jobId);
  if (!job) return;
  for (const j of jobsFrom(store, job.pipeline, job.seq)) {
    undoJobVersions(store, job.pipeline, j.seq);
    deleteJob(store, j.id);
  }
}
