/**
 * The `files` table: versions of paths on a branch, each live from the commit seq that put it (`added`) until the
 * one that replaced or deleted it (`removed`, NULL in the head). Reading the head uses the partial index of live
 * rows (linear in what is returned); reading an older commit scans the versions of the paths asked for.
 */
import type { Store } from './store.js';

export interface FileRow {
  path: string;
  hash: string;
  size: number;
}

/** Where a commit's tree is: its branch, its seq, and whether it is the branch head (the live rows). */
export interface TreeRef {
  repo: string;
  branch: string;
  seq: number;
  head: boolean;
}

const COLS = `path, hash, size`;

/** Every file of a tree, sorted by path. */
export function treeFiles(store: Store, t: TreeRef): FileRow[] {
  if (t.head) {
    return store
      .stmt<FileRow>(
        `SELECT ${COLS} FROM files INDEXED BY files_head WHERE repo = ? AND branch = ? AND removed IS NULL ORDER BY path`,
      )
      .all(t.repo, t.branch);
  }
  return store
    .stmt<FileRow>(
      `SELECT ${COLS} FROM files WHERE repo = ? AND branch = ? AND added <= ? AND (removed IS NULL OR removed > ?) ORDER BY path`,
    )
    .all(t.repo, t.branch, t.seq, t.seq);
}

/** The file at `path` of a tree. */
export function treeFile(store: Store, t: TreeRef, path: string): FileRow | undefined {
  if (t.head) {
    return store
      .stmt<FileRow>(
        `SELECT ${COLS} FROM files INDEXED BY files_head WHERE repo = ? AND branch = ? AND path = ? AND removed IS NULL`,
      )
      .get(t.repo, t.branch, path);
  }
  return store
    .stmt<FileRow>(
      `SELECT ${COLS} FROM files WHERE repo = ? AND branch = ? AND path = ? AND added <= ? AND (removed IS NULL OR removed > ?)`,
    )
    .get(t.repo, t.branch, path, t.seq, t.seq);
}

/** Files strictly under the folder `path` ('/' for all), sorted; '/' is 0x2f and '0' 0x30, so [p/, p0) is the range. */
export function treeFilesBelow(store: Store, t: TreeRef, path: string): FileRow[] {
  if (path === '/') return treeFiles(store, t);
  if (t.head) {
    return store
      .stmt<FileRow>(
        `SELECT ${COLS} FROM files INDEXED BY files_head WHERE repo = ? AND branch = ? AND path >= ? AND path < ? AND removed IS NULL ORDER BY path`,
      )
      .all(t.repo, t.branch, path + '/', path + '0');
  }
  return store
    .stmt<FileRow>(
      `SELECT ${COLS} FROM files WHERE repo = ? AND branch = ? AND path >= ? AND path < ? AND added <= ? AND (removed IS NULL OR removed > ?) ORDER BY path`,
    )
    .all(t.repo, t.branch, path + '/', path + '0', t.seq, t.seq);
}

/** The file at `path`, or every file under the folder `path`. */
export function treeFilesAt(store: Store, t: TreeRef, path: string): FileRow[] {
  if (path === '/') return treeFiles(store, t);
  const exact = treeFile(store, t, path);
  return exact ? [exact] : treeFilesBelow(store, t, path);
}

/** Whether the head holds any file strictly under the folder `path`. */
export function headHasBelow(store: Store, repo: string, branch: string, path: string): boolean {
  return (
    store
      .stmt(
        `SELECT 1 FROM files INDEXED BY files_head WHERE repo = ? AND branch = ? AND path >= ? AND path < ? AND removed IS NULL LIMIT 1`,
      )
      .get(repo, branch, path + '/', path + '0') !== undefined
  );
}

/** Paths whose version changed after seq `from` up to seq `to` (puts, replacements, deletions). */
export function changedPaths(store: Store, repo: string, branch: string, from: number, to: number): Set<string> {
  const out = new Set<string>();
  for (const r of store
    .stmt<{ path: string }>(`SELECT path FROM files WHERE repo = ? AND branch = ? AND added > ? AND added <= ?`)
    .iterate(repo, branch, from, to)) {
    out.add(r.path);
  }
  for (const r of store
    .stmt<{ path: string }>(
      `SELECT path FROM files WHERE repo = ? AND branch = ? AND removed > ? AND removed <= ? AND removed IS NOT NULL`,
    )
    .iterate(repo, branch, from, to)) {
    out.add(r.path);
  }
  return out;
}

/** Ends the live version of one path at `seq`; returns it when there was one. */
export function removeHeadFile(
  store: Store,
  repo: string,
  branch: string,
  path: string,
  seq: number,
): FileRow | undefined {
  const f = store
    .stmt<FileRow>(
      `SELECT ${COLS} FROM files INDEXED BY files_head WHERE repo = ? AND branch = ? AND path = ? AND removed IS NULL`,
    )
    .get(repo, branch, path);
  if (!f) return undefined;
  store
    .stmt(
      `UPDATE files INDEXED BY files_head SET removed = ? WHERE repo = ? AND branch = ? AND path = ? AND removed IS NULL`,
    )
    .run(seq, repo, branch, path);
  return f;
}

/** Ends every live version strictly under the folder `path` (all for '/'); returns how many and their bytes. */
export function removeHeadFilesBelow(
  store: Store,
  repo: string,
  branch: string,
  path: string,
  seq: number,
): { n: number; bytes: number } {
  const lo = path === '/' ? '' : path + '/';
  const hi = path === '/' ? '\uffff' : path + '0';
  const r = store
    .stmt<{ n: number; bytes: number | null }>(
      `SELECT count(*) AS n, sum(size) AS bytes FROM files INDEXED BY files_head WHERE repo = ? AND branch = ? AND path >= ? AND path < ? AND removed IS NULL`,
    )
    .get(repo, branch, lo, hi)!;
  if (r.n)
    store
      .stmt(
        `UPDATE files INDEXED BY files_head SET removed = ? WHERE repo = ? AND branch = ? AND path >= ? AND path < ? AND removed IS NULL`,
      )
      .run(seq, repo, branch, lo, hi);
  return { n: r.n, bytes: r.bytes ?? 0 };
}

export function addHeadFile(store: Store, repo: string, branch: string, f: FileRow, seq: number): void {
  store
    .stmt(`INSERT INTO files (repo, branch, path, added, removed, hash, size) VALUES (?, ?, ?, ?, NULL, ?, ?)`)
    .run(repo, branch, f.path, seq, f.hash, f.size);
}

/** Drops a repo's file versions (all branches). */
export function dropRepoFiles(store: Store, repo: string): void {
  store.stmt(`DELETE FROM files WHERE repo = ?`).run(repo);
}

/** Squashing the commit at `seq` into its child at `childSeq`: versions that lived in that commit alone go. */
export function dropVersionsLivingOnlyIn(store: Store, repo: string, branch: string, seq: number, childSeq: number) {
  store
    .stmt(`DELETE FROM files WHERE repo = ? AND branch = ? AND added = ? AND removed = ?`)
    .run(repo, branch, seq, childSeq);
}

/** Deleting the head commit at `seq`: the versions it added go, those it ended are live again. */
export function undoCommitVersions(store: Store, repo: string, branch: string, seq: number): void {
  store.stmt(`DELETE FROM files WHERE repo = ? AND branch = ? AND added = ?`).run(repo, branch, seq);
  store.stmt(`UPDATE files SET removed = NULL WHERE repo = ? AND branch = ? AND removed = ?`).run(repo, branch, seq);
}
