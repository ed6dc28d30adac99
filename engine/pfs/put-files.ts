/**
 * Putting local files into a repo and deleting paths, each as ONE commit (commit-writer.ts): contents go to the blob
 * store first (whole, fsynced, renamed), then one transaction makes the commit.
 */
import { runPutChecks } from './put-checks.js';
import { lstatSync, statSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import type { CommitRow } from '../store/commit-rows.js';
import type { FileRow } from '../store/files.js';
import { beginStaging } from '../store/staging.js';
import { type Store, StoreError } from '../store/store.js';
import { branchExists, headOf } from './commits.js';
import { commitChanges } from './commit-writer.js';
import { followLink, type WalkOptions, walkLocal } from './local-tree.js';
import { checkRepoName, normalizePath } from './names.js';
import { mustRepo } from './repos.js';

export interface PutItem {
  /** a local file or folder */
  local: string;
  /** the repo path it goes to (a folder's files go under it) */
  dest: string;
}

export { walkLocal };

/** Expands local files and folders (`recursive` needed for folders) into (local file, repo path) pairs. */
export function expandPutItems(
  items: PutItem[],
  recursive: boolean,
  walk: WalkOptions = {},
): { local: string; path: string }[] {
  const out: { local: string; path: string }[] = [];
  for (const it of items) {
    let st;
    try {
      st = statSync(it.local);
    } catch {
      if (lstatSync(it.local, { throwIfNoEntry: false })?.isSymbolicLink())
        followLink(it.local, dirname(it.local), { followLinks: true });
      throw new StoreError(`${it.local}: no such file or folder`);
    }
    const dest = normalizePath(it.dest);
    if (st.isDirectory()) {
      if (!recursive) throw new StoreError(`${it.local} is a folder: use -r to put it with everything under it`);
      for (const f of walkLocal(it.local, walk))
        out.push({ local: f, path: normalizePath(dest + '/' + relative(it.local, f).split('\\').join('/')) });
    } else {
      out.push({ local: it.local, path: dest });
    }
  }
  return out;
}

/**
 * Puts files into `repo@branch` as ONE commit: contents go to the blob store first (whole, fsynced, renamed),
 * then one transaction makes the commit. Checks everything it can before writing anything.
 */
export async function putFiles(
  store: Store,
  repo: string,
  branch: string,
  files: { local: string; path: string }[],
  opts: { description?: string; deletes?: string[] } = {},
): Promise<CommitRow> {
  const r = mustRepo(store, repo);
  if (r.pipeline)
    throw new StoreError(`repo ${repo} is the output of pipeline ${r.pipeline}; only its jobs write to it`);
  checkRepoName(branch, 'branch');
  const seen = new Set<string>();
  for (const f of files) {
    const p = normalizePath(f.path);
    if (p === '/') throw new StoreError(`cannot put ${f.local} at the root of ${repo}: name a path`);
    if (seen.has(p)) throw new StoreError(`two files go to ${repo}@${branch}:${p}`);
    seen.add(p);
  }
  runPutChecks(repo, files);
  const puts: FileRow[] = new Array(files.length);
  const staging = beginStaging(store);
  try {
    let next = 0;
    const worker = async () => {
      while (next < files.length) {
        const i = next++;
        const ref = await store.blobs.putFile(files[i].local);
        puts[i] = { path: normalizePath(files[i].path), ...ref };
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, files.length) }, worker));
    return commitChanges(store, repo, branch, { puts, deletes: opts.deletes }, { description: opts.description });
  } finally {
    staging.done();
  }
}

export function deleteFiles(store: Store, repo: string, branch: string, paths: string[]): CommitRow {
  const r = mustRepo(store, repo);
  if (r.pipeline)
    throw new StoreError(`repo ${repo} is the output of pipeline ${r.pipeline}; only its jobs write to it`);
  if (!branchExists(store, repo, branch) || !headOf(store, repo, branch))
    throw new StoreError(`branch ${branch} of repo ${repo} has no commits`);
  return commitChanges(store, repo, branch, { deletes: paths });
}

export function isLocalDir(p: string): boolean {
  try {
    return lstatSync(p).isDirectory() || statSync(p).isDirectory();
  } catch {
    return false;
  }
}
