/** The `repos` table: a repo's name, when it was made, what it is for, and the pipeline it is the output of. */
import type { Store } from './store.js';

export interface RepoRow {
  name: string;
  created: string;
  description: string;
  pipeline: string | null;
}

const COLS = `name, created, description, pipeline`;

export function repoRow(store: Store, name: string): RepoRow | undefined {
  return store.stmt<RepoRow>(`SELECT ${COLS} FROM repos WHERE name = ?`).get(name);
}

/** Every repo, newest first. */
export function repoRows(store: Store): RepoRow[] {
  return store.stmt<RepoRow>(`SELECT ${COLS} FROM repos ORDER BY created DESC, name`).all();
}

export function insertRepo(store: Store, r: RepoRow): void {
  store.stmt(`INSERT INTO repos (${COLS}) VALUES (?, ?, ?, ?)`).run(r.name, r.created, r.description, r.pipeline);
}

/** Names of the repos that are no pipeline's output (the ones users commit to). */
export function userRepoNames(store: Store): Set<string> {
  return new Set(
    store
      .stmt<{ name: string }>(`SELECT name FROM repos WHERE pipeline IS NULL`)
      .all()
      .map((r) => r.name),
  );
}

export function deleteRepoRow(store: Store, name: string): void {
  store.stmt(`DELETE FROM repos WHERE name = ?`).run(name);
}
