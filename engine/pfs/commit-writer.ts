/**
 * Where a commit is written. Every change (a put of one file, a folder or many files; a delete; a job's output) is
 * ONE commit made in one transaction: its row first (for its seq), then the file versions it ends and starts, then
 * its counts, provenance and the branch head. A commit costs what it changes, not the size of the repo.
 */
import { branchExists, insertBranch, setBranchHead } from '../store/branch-rows.js';
import { type CommitRow, commitById, insertCommit, insertProvenance, setCommitCounts } from '../store/commit-rows.js';
import {
  addHeadFile,
  type FileRow,
  headHasBelow,
  removeHeadFile,
  removeHeadFilesBelow,
  type TreeRef,
  treeFile,
  treeFiles,
} from '../store/files.js';
import { now, type Store, StoreError } from '../store/store.js';
import { headOf } from './commits.js';
import { checkRepoName, newId, normalizePath } from './names.js';
import { mustRepo } from './repos.js';

export type CommitOptions = {
  origin?: 'user' | 'job';
  job?: string;
  id?: string;
  description?: string;
  provenance?: { repo: string; branch: string; commit: string }[];
};

export interface Changes {
  puts?: FileRow[];
  deletes?: string[];
}

/**
 * Makes one commit on `repo@branch` from its head plus `changes` (inside one transaction), creating the branch
 * when it does not exist. Blobs referenced by `puts` must already be in the store. Returns the new commit.
 */
export function commitChanges(
  store: Store,
  repo: string,
  branch: string,
  changes: Changes,
  opts: CommitOptions = {},
): CommitRow {
  checkRepoName(branch, 'branch');
  const deletes = (changes.deletes ?? []).map(normalizePath);
  const puts = (changes.puts ?? []).map((f) => ({ path: normalizePath(f.path), hash: f.hash, size: f.size }));
  const seen = new Set<string>();
  for (const f of puts) {
    if (f.path === '/') throw new StoreError(`cannot put a file at the root of ${repo}: name a path`);
    if (seen.has(f.path)) throw new StoreError(`${f.path} is put twice in one commit`);
    seen.add(f.path);
  }
  return store.tx(() => {
    mustRepo(store, repo);
    ensureBranch(store, repo, branch);
    const parent = headOf(store, repo, branch);
    const w = beginCommit(store, repo, branch, parent, { origin: 'user', ...opts });
    for (const p of deletes) {
      const hit = w.remove(p, true);
      if (!hit) throw new StoreError(`${repo}@${branch}:${p}: no such file or folder`);
    }
    for (const f of puts) {
      if (headHasBelow(store, repo, branch, f.path))
        throw new StoreError(`${repo}@${branch}:${f.path} is a folder; cannot put a file there`);
      for (let i = f.path.lastIndexOf('/'); i > 0; i = f.path.lastIndexOf('/', i - 1)) {
        const anc = f.path.slice(0, i);
        if (seen.has(anc) || treeFile(store, w.tree, anc))
          throw new StoreError(`${repo}@${branch}:${anc} is a file; cannot put ${f.path} under it`);
      }
      w.put(f);
    }
    return w.finish();
  });
}

function ensureBranch(store: Store, repo: string, branch: string): void {
  if (!branchExists(store, repo, branch)) insertBranch(store, repo, branch);
}

/** A commit being written: its row exists (for its seq), file versions change as it goes, counts are kept. */
interface CommitWriter {
  readonly seq: number;
  /** the head as it is being changed (live rows) */
  readonly tree: TreeRef;
  /** removes a file, or (`folders`) also everything under the path; whether anything was there */
  remove(path: string, folders: boolean): boolean;
  /** puts a file, replacing the live one (a no-op when the content is the same) */
  put(f: FileRow): void;
  finish(): CommitRow;
}

function beginCommit(
  store: Store,
  repo: string,
  branch: string,
  parent: CommitRow | undefined,
  opts: CommitOptions,
): CommitWriter {
  const id = opts.id ?? newId();
  const seq = insertCommit(store, {
    id,
    repo,
    branch,
    parent: parent?.id ?? null,
    created: now(),
    origin: opts.origin ?? 'user',
    job: opts.job ?? null,
    description: opts.description ?? '',
  });
  let nFiles = parent?.n_files ?? 0;
  let bytes = parent?.size_bytes ?? 0;
  const tree: TreeRef = { repo, branch, seq, head: true };
  return {
    seq,
    tree,
    remove(path, folders) {
      let hit = false;
      if (path !== '/') {
        const f = removeHeadFile(store, repo, branch, path, seq);
        if (f) {
          hit = true;
          nFiles--;
          bytes -= f.size;
        }
      }
      if (folders) {
        const r = removeHeadFilesBelow(store, repo, branch, path, seq);
        if (r.n) {
          hit = true;
          nFiles -= r.n;
          bytes -= r.bytes;
        }
      }
      return hit;
    },
    put(f) {
      const live = treeFile(store, tree, f.path);
      if (live && live.hash === f.hash && live.size === f.size) return;
      if (live) {
        removeHeadFile(store, repo, branch, f.path, seq);
        nFiles--;
        bytes -= live.size;
      }
      addHeadFile(store, repo, branch, f, seq);
      nFiles++;
      bytes += f.size;
    },
    finish() {
      setCommitCounts(store, seq, nFiles, bytes);
      insertProvenance(store, id, opts.provenance ?? []);
      setBranchHead(store, repo, branch, id);
      return commitById(store, id)!;
    },
  };
}

/**
 * Makes one commit on `repo@branch` holding exactly `files`, inside the caller's transaction or its own: the
 * head's files are diffed against them, so only what differs gets new versions. Reads the whole head: for a job
 * output that has to be rebuilt whole; `commitDiff` is the incremental path.
 */
export function commitFiles(
  store: Store,
  repo: string,
  branch: string,
  files: FileRow[],
  opts: CommitOptions = {},
): CommitRow {
  return store.tx(() => {
    mustRepo(store, repo);
    ensureBranch(store, repo, branch);
    const parent = headOf(store, repo, branch);
    const want = new Map(files.map((f) => [f.path, f]));
    const w = beginCommit(store, repo, branch, parent, { origin: 'job', ...opts });
    for (const f of treeFiles(store, w.tree)) if (!want.has(f.path)) w.remove(f.path, false);
    for (const f of files) w.put(f);
    return w.finish();
  });
}

/** Two writers of one path, or a file where a folder is: found while applying a job's output. */
export class PathConflict extends Error {
  constructor(
    readonly path: string,
    readonly kind: 'same' | 'file-above' | 'folder',
    /** the conflicting path already there (for `file-above`: the file; for `folder`: a file under it) */
    readonly other: string,
  ) {
    super(`path conflict at ${path}`);
    this.name = 'PathConflict';
  }
}

/**
 * One commit on `repo@branch` = its head minus the files `removes` plus `puts`, inside the caller's transaction.
 * A put may not land on a file still there, nor under a file, nor where files are below (a job's datums own
 * disjoint paths): that throws PathConflict and the caller's transaction rolls back. Costs what it changes.
 */
export function commitDiff(
  store: Store,
  repo: string,
  branch: string,
  removes: Iterable<string>,
  puts: FileRow[],
  opts: CommitOptions = {},
): CommitRow {
  mustRepo(store, repo);
  ensureBranch(store, repo, branch);
  const parent = headOf(store, repo, branch);
  const w = beginCommit(store, repo, branch, parent, { origin: 'job', ...opts });
  const putPaths = new Set<string>();
  for (const f of puts) {
    if (putPaths.has(f.path)) throw new PathConflict(f.path, 'same', f.path);
    putPaths.add(f.path);
  }
  // a path removed and put again with the same content keeps its version (and costs no row)
  const removeSet = new Set(removes);
  const keep = new Set<string>();
  for (const f of puts) {
    if (!removeSet.has(f.path)) continue;
    const live = treeFile(store, w.tree, f.path);
    if (live && live.hash === f.hash && live.size === f.size) keep.add(f.path);
  }
  for (const p of removeSet) if (!keep.has(p)) w.remove(p, false);
  for (const f of puts) {
    if (keep.has(f.path)) continue;
    if (treeFile(store, w.tree, f.path)) throw new PathConflict(f.path, 'same', f.path);
    if (headHasBelow(store, repo, branch, f.path)) throw new PathConflict(f.path, 'folder', f.path);
    for (let i = f.path.lastIndexOf('/'); i > 0; i = f.path.lastIndexOf('/', i - 1)) {
      const anc = f.path.slice(0, i);
      if (putPaths.has(anc) || treeFile(store, w.tree, anc)) throw new PathConflict(f.path, 'file-above', anc);
    }
    w.put(f);
  }
  return w.finish();
}
