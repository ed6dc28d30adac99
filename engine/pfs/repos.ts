/** Repos and their branches: created with an empty `master`, listed and inspected, deleted when nothing reads them. */
import { readersOfRepo } from '../pps/dag.js';
import type { PipelineSpec } from '../pps/spec/pipeline-spec.js';
import { branchesOf, deleteRepoBranches, insertBranch } from '../store/branch-rows.js';
import { commitById, deleteRepoCommits } from '../store/commit-rows.js';
import { dropRepoFiles } from '../store/files.js';
import { pipelineSpecTexts } from '../store/pipeline-rows.js';
import { deleteRepoRow, insertRepo, type RepoRow, repoRow, repoRows } from '../store/repo-rows.js';
import { now, type Store, StoreError } from '../store/store.js';
import { checkRepoName } from './names.js';

export type { RepoRow };

export function getRepo(store: Store, name: string): RepoRow | undefined {
  return repoRow(store, name);
}

export function mustRepo(store: Store, name: string): RepoRow {
  const r = getRepo(store, name);
  if (!r)
    throw new StoreError(`repo ${JSON.stringify(name)} not found (create it with \`tessella create repo ${name}\`)`);
  return r;
}

/** Creates a repo with an empty `master` branch. Inside a transaction of the caller or its own. */
export function createRepo(
  store: Store,
  name: string,
  opts: { description?: string; pipeline?: string; ifMissing?: boolean } = {},
): boolean {
  checkRepoName(name);
  return store.tx(() => {
    const existing = getRepo(store, name);
    if (existing) {
      if (opts.ifMissing) return false;
      throw new StoreError(`repo ${JSON.stringify(name)} already exists`);
    }
    insertRepo(store, { name, created: now(), description: opts.description ?? '', pipeline: opts.pipeline ?? null });
    insertBranch(store, name, 'master');
    return true;
  });
}

/** Removes a repo, its branches and commits (not its blobs: other commits may hold them). */
export function dropRepo(store: Store, name: string): void {
  dropRepoFiles(store, name);
  deleteRepoCommits(store, name);
  deleteRepoBranches(store, name);
  deleteRepoRow(store, name);
}

/** Names of the pipelines that read `repo` itself, as the store holds them (dag.ts's readersOfRepo). */
export function readersOf(store: Store, repo: string): string[] {
  const specs = pipelineSpecTexts(store).map((text) => JSON.parse(text) as PipelineSpec);
  return readersOfRepo(repo, specs).map((s) => s.pipeline.name);
}

export function deleteRepo(store: Store, name: string): void {
  store.tx(() => {
    const repo = mustRepo(store, name);
    if (repo.pipeline) {
      throw new StoreError(
        `repo ${JSON.stringify(name)} is the output of pipeline ${repo.pipeline}: use \`tessella delete pipeline ${repo.pipeline}\``,
      );
    }
    const readers = readersOf(store, name);
    if (readers.length) {
      throw new StoreError(
        `repo ${JSON.stringify(name)} is an input of pipeline(s) ${readers.join(', ')}: delete those first`,
      );
    }
    dropRepo(store, name);
  });
}

export interface RepoInfo extends RepoRow {
  branches: string[];
  size_bytes: number;
  head: string | null;
}

export function listRepos(store: Store): RepoInfo[] {
  return repoRows(store).map((r) => inspectRepo(store, r));
}

export function inspectRepo(store: Store, r: RepoRow | string): RepoInfo {
  const repo = typeof r === 'string' ? mustRepo(store, r) : r;
  const branches = branchesOf(store, repo.name);
  const master = branches.find((b) => b.name === 'master') ?? branches[0];
  const head = master?.head ? commitById(store, master.head) : undefined;
  return { ...repo, branches: branches.map((b) => b.name), size_bytes: head?.size_bytes ?? 0, head: head?.id ?? null };
}
