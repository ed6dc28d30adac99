/**
 * The `commits` and `provenance` tables: a commit's row (its seq orders it; its parent links the branch's history;
 * its counts are the tree's after it) and the input commits an output commit was made from.
 */
import type { Store } from './store.js';

export interface CommitRow {
  seq: number;
  id: string;
  repo: string;
  branch: string;
  parent: string | null;
  created: string;
  origin: 'user' | 'job';
  job: string | null;
  description: string;
  n_files: number;
  size_bytes: number;
}

export interface ProvenanceRow {
  repo: string;
  branch: string;
  commit: string;
}

const COLS = `seq, id, repo, branch, parent, created, origin, job, description, n_files, size_bytes`;

export function commitById(store: Store, id: string): CommitRow | undefined {
  return store.stmt<CommitRow>(`SELECT ${COLS} FROM commits WHERE id = ?`).get(id);
}

export function commitBySeq(store: Store, seq: number): CommitRow | undefined {
  return store.stmt<CommitRow>(`SELECT ${COLS} FROM commits WHERE seq = ?`).get(seq);
}

/** Up to two commits of `repo` whose id starts with `prefix` (two: the prefix is ambiguous). */
export function commitsByPrefix(store: Store, repo: string, prefix: string): CommitRow[] {
  return store
    .stmt<CommitRow>(`SELECT ${COLS} FROM commits WHERE repo = ? AND id >= ? AND id < ? LIMIT 2`)
    .all(repo, prefix, prefix + 'g');
}

/** Commits of a repo (of one branch when given) below seq `below`, newest first; `limit` -1: all. */
export function commitsBelow(store: Store, repo: string, branch: string | undefined, below: number, limit: number) {
  return branch
    ? store
        .stmt<CommitRow>(
          `SELECT ${COLS} FROM commits WHERE repo = ? AND branch = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
        )
        .all(repo, branch, below, limit)
    : store
        .stmt<CommitRow>(`SELECT ${COLS} FROM commits WHERE repo = ? AND seq < ? ORDER BY seq DESC LIMIT ?`)
        .all(repo, below, limit);
}

/** The first child commit of `id`. */
export function firstChildOf(store: Store, id: string): CommitRow | undefined {
  return store.stmt<CommitRow>(`SELECT * FROM commits WHERE parent = ? ORDER BY seq LIMIT 1`).get(id);
}

/** A new commit row with zero counts; returns its seq. */
export function insertCommit(
  store: Store,
  c: Pick<CommitRow, 'id' | 'repo' | 'branch' | 'parent' | 'created' | 'origin' | 'job' | 'description'>,
): number {
  const info = store
    .stmt(
      `INSERT INTO commits (id, repo, branch, parent, created, origin, job, description, n_files, size_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0)`,
    )
    .run(c.id, c.repo, c.branch, c.parent, c.created, c.origin, c.job, c.description);
  return Number(info.lastInsertRowid);
}

export function setCommitCounts(store: Store, seq: number, nFiles: number, bytes: number): void {
  store.stmt(`UPDATE commits SET n_files = ?, size_bytes = ? WHERE seq = ?`).run(nFiles, bytes, seq);
}

export function setCommitParent(store: Store, id: string, parent: string | null): void {
  store.stmt(`UPDATE commits SET parent = ? WHERE id = ?`).run(parent, id);
}

/** Removes a commit's row and its provenance. */
export function deleteCommitRow(store: Store, id: string): void {
  store.stmt(`DELETE FROM provenance WHERE commit_id = ?`).run(id);
  store.stmt(`DELETE FROM commits WHERE id = ?`).run(id);
}

/** Removes every commit of a repo, with their provenance. */
export function deleteRepoCommits(store: Store, repo: string): void {
  store.stmt(`DELETE FROM provenance WHERE commit_id IN (SELECT id FROM commits WHERE repo = ?)`).run(repo);
  store.stmt(`DELETE FROM commits WHERE repo = ?`).run(repo);
}

export function insertProvenance(store: Store, commitId: string, sources: readonly ProvenanceRow[]): void {
  const st = store.stmt(`INSERT INTO provenance (commit_id, repo, branch, source) VALUES (?, ?, ?, ?)`);
  for (const p of sources) st.run(commitId, p.repo, p.branch, p.commit);
}

/** The input commits `commitId` was made from. */
export function provenanceOf(store: Store, commitId: string): ProvenanceRow[] {
  return store
    .stmt<ProvenanceRow>(
      `SELECT repo, branch, source AS "commit" FROM provenance WHERE commit_id = ? ORDER BY repo, branch`,
    )
    .all(commitId);
}

/** The commits whose provenance holds `source`. */
export function commitsMadeFrom(store: Store, source: string): string[] {
  return store
    .stmt<{ commit_id: string }>(`SELECT commit_id FROM provenance WHERE source = ?`)
    .all(source)
    .map((r) => r.commit_id);
}
