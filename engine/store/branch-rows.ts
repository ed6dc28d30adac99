/** The `branches` table: a repo's branches and the commit each one's head is (NULL before its first commit). */
import type { Store } from './store.js';

export function branchExists(store: Store, repo: string, branch: string): boolean {
  return store.stmt(`SELECT 1 FROM branches WHERE repo = ? AND name = ?`).get(repo, branch) !== undefined;
}

/** The head commit id of a branch; undefined when the branch has no commit (or does not exist). */
export function branchHead(store: Store, repo: string, branch: string): string | undefined {
  return (
    store.stmt<{ head: string | null }>(`SELECT head FROM branches WHERE repo = ? AND name = ?`).get(repo, branch)
      ?.head ?? undefined
  );
}

/** A repo's branches by name, with their heads. */
export function branchesOf(store: Store, repo: string): { name: string; head: string | null }[] {
  return store
    .stmt<{ name: string; head: string | null }>(`SELECT name, head FROM branches WHERE repo = ? ORDER BY name`)
    .all(repo);
}

export function insertBranch(store: Store, repo: string, branch: string): void {
  store.stmt(`INSERT INTO branches (repo, name, head) VALUES (?, ?, NULL)`).run(repo, branch);
}

/** Moves a branch's head (`null`: to before its first commit). */
export function setBranchHead(store: Store, repo: string, branch: string, head: string | null): void {
  store.stmt(`UPDATE branches SET head = ? WHERE repo = ? AND name = ?`).run(head, repo, branch);
}

export function deleteRepoBranches(store: Store, repo: string): void {
  store.stmt(`DELETE FROM branches WHERE repo = ?`).run(repo);
}
