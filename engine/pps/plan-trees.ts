/** The trees of a job's input commits, looked up once per plan, and a stored datum mounted again over them. */
import { globLiteralPrefix } from '../pfs/glob.js';
import { type CommitRow, commitById, treeOf } from '../pfs/commits.js';
import { treeFiles, treeFilesAt, type TreeRef } from '../store/files.js';
import type { Store } from '../store/store.js';
import { type Datum, type DatumInput, datumId, type Snapshot } from './datums.js';
import type { JobInput } from './jobs.js';

/** A datum input as stored to mount it again: everything but its files. */
export type InputDef = Omit<DatumInput, 'files'>;

export function defJson(d: Datum): string {
  return JSON.stringify(d.inputs.map(({ files: _files, ...rest }) => rest));
}

/** Commits of the job's inputs and their trees, looked up once. */
export class Trees {
  private readonly cache = new Map<string, { commit?: CommitRow; tree?: TreeRef }>();
  constructor(
    private readonly store: Store,
    private readonly inputs: JobInput[],
  ) {}

  of(repo: string, branch: string): { commit?: CommitRow; tree?: TreeRef } {
    const key = `${repo}@${branch}`;
    let t = this.cache.get(key);
    if (!t) {
      const inp = this.inputs.find((i) => i.repo === repo && i.branch === branch);
      const commit = inp?.commit ? commitById(this.store, inp.commit) : undefined;
      t = { commit, tree: commit ? treeOf(this.store, commit) : undefined };
      this.cache.set(key, t);
    }
    return t;
  }

  /** With `glob`: only the files at or under its literal prefix (all a glob can match), read by that range. */
  snapshot(repo: string, branch: string, glob?: string): Snapshot {
    const t = this.of(repo, branch);
    const prefix = glob === undefined ? '/' : globLiteralPrefix(glob);
    const files = !t.tree
      ? []
      : prefix === '/'
        ? treeFiles(this.store, t.tree)
        : treeFilesAt(this.store, t.tree, prefix);
    return { repo, branch, commit: t.commit?.id ?? '', files };
  }

  /** Files of a matched path in the job's commit of its repo. */
  filesAt(repo: string, branch: string, path: string) {
    const t = this.of(repo, branch);
    return t.tree ? treeFilesAt(this.store, t.tree, path) : [];
  }
}

/** Mounts a stored datum again over the job's input commits (a datum is re-run with the job's inputs). */
export function datumFromDef(def: string, trees: Trees): Datum {
  const inputs = (JSON.parse(def) as InputDef[]).map((i) => {
    const t = trees.of(i.repo, i.branch);
    return { ...i, commit: t.commit?.id ?? '', files: trees.filesAt(i.repo, i.branch, i.path) };
  });
  return { id: datumId(inputs), inputs };
}
