/**
 * Reading commits: a branch's head, a ref resolved to a commit (`master`, an id or its prefix, `^`/`~N` ancestry),
 * a repo's history a page at a time, provenance, and the files of a commit's tree.
 */
import { branchExists, branchHead } from '../store/branch-rows.js';
import { type CommitRow, commitById, commitBySeq, commitsBelow, commitsByPrefix } from '../store/commit-rows.js';
import { type FileRow, type TreeRef, treeFiles, treeFilesAt } from '../store/files.js';
import { type Store, StoreError } from '../store/store.js';
import { normalizePath } from './names.js';
import { mustRepo } from './repos.js';

export type { CommitRow };
export { branchExists, commitById, commitBySeq };
export { provenanceOf } from '../store/commit-rows.js';

export function headOf(store: Store, repo: string, branch: string): CommitRow | undefined {
  const head = branchHead(store, repo, branch);
  return head ? commitById(store, head) : undefined;
}

/** Where a commit's files are read: the live rows when it is its branch's head, else its range of versions. */
export function treeOf(store: Store, c: CommitRow): TreeRef {
  return { repo: c.repo, branch: c.branch, seq: c.seq, head: branchHead(store, c.repo, c.branch) === c.id };
}

/**
 * Resolves a ref of `repo`: a branch (its head), a commit id (or a unique prefix of at least 6 characters),
 * with optional ancestry suffixes: `^` (parent), `^N` / `~N` (N generations back), repeatable.
 */
export function resolveCommit(store: Store, repo: string, ref: string): CommitRow {
  mustRepo(store, repo);
  const m = /^(.*?)((?:[~^]\d*)*)$/.exec(ref)!;
  const base = m[1];
  let back = 0;
  for (const step of m[2].match(/[~^]\d*/g) ?? []) back += step.length > 1 ? Number(step.slice(1)) : 1;
  let c: CommitRow | undefined;
  if (branchExists(store, repo, base)) {
    c = headOf(store, repo, base);
    if (!c) throw new StoreError(`branch ${base} of repo ${repo} has no commits yet`);
  } else {
    c = commitById(store, base);
    if (!c && /^[0-9a-f]{6,}$/.test(base)) {
      const rows = commitsByPrefix(store, repo, base);
      if (rows.length > 1) throw new StoreError(`commit prefix ${base} is ambiguous in repo ${repo}`);
      c = rows[0];
    }
    if (!c || c.repo !== repo) throw new StoreError(`no branch or commit ${JSON.stringify(base)} in repo ${repo}`);
  }
  for (let i = 0; i < back; i++) {
    if (!c!.parent) throw new StoreError(`${repo}@${ref}: commit ${c!.id} has only ${i} ancestor(s)`);
    c = commitById(store, c!.parent);
  }
  return c!;
}

/**
 * Commits of a repo, newest first: of one branch, or the ancestry of a commit ref. `page.after` (a commit id)
 * starts just below that commit, so a long history is read a page at a time.
 */
export function listCommits(
  store: Store,
  repo: string,
  branch?: string,
  limit = -1,
  page: { after?: string } = {},
): CommitRow[] {
  mustRepo(store, repo);
  let below = Number.MAX_SAFE_INTEGER;
  if (page.after) {
    const a = commitById(store, page.after) ?? resolveCommit(store, repo, page.after);
    if (a.repo !== repo) throw new StoreError(`commit ${page.after} is not in repo ${repo}`);
    below = a.seq;
  }
  if (branch && !branchExists(store, repo, branch)) {
    // a commit ref: its ancestry
    const out: CommitRow[] = [];
    let c: CommitRow | undefined = resolveCommit(store, repo, branch);
    while (c && c.seq >= below) c = c.parent ? commitById(store, c.parent) : undefined;
    while (c && (limit < 0 || out.length < limit)) {
      out.push(c);
      c = c.parent ? commitById(store, c.parent) : undefined;
    }
    return out;
  }
  return commitsBelow(store, repo, branch, below, limit);
}

/** Every file of a commit, sorted by path. */
export function filesOf(store: Store, commitSeq: number): FileRow[] {
  const c = commitBySeq(store, commitSeq);
  return c ? treeFiles(store, treeOf(store, c)) : [];
}

/** The file at `path` of a commit, or every file under the folder `path`, sorted. */
export function filesUnder(store: Store, commitSeq: number, path: string): FileRow[] {
  const c = commitBySeq(store, commitSeq);
  return c ? treeFilesAt(store, treeOf(store, c), normalizePath(path)) : [];
}
