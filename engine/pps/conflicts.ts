/** Why a job's output cannot be one tree: two datums writing one path, or a file where another datum has a folder. */
import type { PathConflict } from '../pfs/commit-writer.js';
import { currentWritersOf } from '../store/datum-versions.js';
import type { FileRow } from '../store/files.js';
import type { Store } from '../store/store.js';

/** Two datums writing one path, or a file where another datum writes a folder, among a whole output. */
export function treeConflict(rows: (FileRow & { datum: string })[]): string | undefined {
  rows.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (let i = 1; i < rows.length; i++) {
    if (rows[i - 1].path === rows[i].path)
      return `datums ${rows[i - 1].datum} and ${rows[i].datum} both write ${rows[i].path}`;
  }
  const byPath = new Map(rows.map((r) => [r.path, r]));
  for (const r of rows) {
    for (let i = r.path.lastIndexOf('/'); i > 0; i = r.path.lastIndexOf('/', i - 1)) {
      const other = byPath.get(r.path.slice(0, i));
      if (other)
        return `datum ${other.datum} writes the file ${other.path} and datum ${r.datum} writes ${r.path} under it`;
    }
  }
  return undefined;
}

/** The reason for a conflict found while applying an incremental output, naming the datums. */
export function conflictReason(store: Store, pipeline: string, e: PathConflict): string {
  const writers = (p: string) => currentWritersOf(store, pipeline, p);
  if (e.kind === 'same') {
    const w = writers(e.path);
    return `datums ${w.join(' and ')} both write ${e.path}`;
  }
  if (e.kind === 'file-above') {
    return `datum ${writers(e.other).join(', ')} writes the file ${e.other} and datum ${writers(e.path).join(', ')} writes ${e.path} under it`;
  }
  return `datum ${writers(e.path).join(', ')} writes ${e.path} where files of another datum are below it`;
}
