/**
 * Datums as Pachyderm 2.x computes them: every file or folder a pfs input's glob matches is one datum of that
 * input; cross = cartesian product, union = concatenation, join = datums whose `joinOn` values agree (inner,
 * or keeping the unmatched ones of `outerJoin` inputs), group = one datum per `groupBy` value.
 *
 * Identity follows Pachyderm's common.DatumID / common.HashDatum in spirit:
 *   id   = sha256 over each input's (name, repo, branch, matched path), each field followed by its byte length
 *          as a big-endian int64: stable across jobs and commits;
 *   hash = sha256 over the id, each input's content hash (the paths and content hashes of every file it
 *          mounts) and the pipeline's salt.
 */
import { createHash } from 'node:crypto';
import { expandCaptures, globLiteralPrefix, globPaths, type GlobMatch } from '../pfs/glob.js';
import { childrenOf, type Input, type PfsInput } from './spec/pipeline-spec.js';

export interface FileEntry {
  /** '/slide1/a.svs': files only, leading slash */
  path: string;
  /** sha256 hex of the content */
  hash: string;
  size: number;
}

/** A commit's whole file list. */
export interface Snapshot {
  repo: string;
  branch: string;
  commit: string;
  files: FileEntry[];
}

export interface DatumInput {
  name: string;
  repo: string;
  branch: string;
  commit: string;
  glob: string;
  /** the matched path ('/slide1', '/slide1/a.svs', or '/' for the whole repo) */
  path: string;
  /** every file at or under `path`, mounted at $PFS_ROOT/<name><file.path> */
  files: FileEntry[];
  /** the resolved join key of this input (joinOn with its captures substituted), inside a join */
  joinOn?: string;
  /** the resolved group key (groupBy with its captures substituted), inside a group */
  groupBy?: string;
  lazy?: boolean;
  emptyFiles?: boolean;
}

export interface Datum {
  id: string;
  inputs: DatumInput[];
}

/**
 * A commit's files; with `glob`, it may hold only the files the glob can match (those at or under its literal prefix,
 * globLiteralPrefix), so a pfs input of one path reads that path, not its repo.
 */
type SnapshotOf = (repo: string, branch: string, glob?: string) => Snapshot;

/** The datums of an input over the given commits, in a deterministic order, without duplicates. */
export function computeDatums(input: Input, snapshotOf: SnapshotOf): Datum[] {
  const cache = new Map<string, Snapshot>();
  const snap: SnapshotOf = (repo, branch, glob) => {
    const key = `${repo}@${branch}:${glob === undefined ? '/' : globLiteralPrefix(glob)}`;
    let s = cache.get(key);
    if (!s) {
      s = snapshotOf(repo, branch, glob);
      cache.set(key, s);
    }
    return s;
  };
  const tuples = datumsOf(input, snap);
  const out: Datum[] = [];
  const seen = new Set<string>();
  for (const inputs of tuples) {
    const id = datumId(inputs);
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ id, inputs });
  }
  return out;
}

/** The datum tuples of an input (or part of one), before ids and de-duplication. */
export function datumsOf(input: Input, snap: SnapshotOf): DatumInput[][] {
  if ('pfs' in input) return pfsDatums(input.pfs, snap).map((d) => [d.input]);
  const [kind, children] = childrenOf(input);
  switch (kind) {
    case 'union':
      return children.flatMap((c) => datumsOf(c, snap));
    case 'cross': {
      let acc: DatumInput[][] = [[]];
      for (const c of children) {
        const side = datumsOf(c, snap);
        const next: DatumInput[][] = [];
        for (const a of acc) for (const b of side) next.push([...a, ...b]);
        acc = next;
        if (acc.length === 0) break;
      }
      return acc;
    }
    case 'join':
      return joinDatums(children.map(pfsOf), snap);
    case 'group':
      return groupDatums(children.map(pfsOf), snap);
  }
}

function pfsOf(input: Input): PfsInput {
  if (!('pfs' in input)) throw new Error('join and group take pfs inputs only');
  return input.pfs;
}

export interface Keyed {
  input: DatumInput;
  key?: string;
}

export function pfsDatums(pfs: PfsInput, snap: SnapshotOf, keyTemplate?: string): Keyed[] {
  const s = snap(pfs.repo, pfs.branch, pfs.glob);
  const files = sortedFiles(s.files);
  const paths = files.map((f) => f.path);
  return globPaths(paths, pfs.glob).map((m: GlobMatch) => {
    const input: DatumInput = {
      name: pfs.name,
      repo: pfs.repo,
      branch: pfs.branch,
      commit: s.commit,
      glob: pfs.glob,
      path: m.path,
      files: filesUnder(files, paths, m.path),
    };
    if (pfs.lazy !== undefined) input.lazy = pfs.lazy;
    if (pfs.emptyFiles !== undefined) input.emptyFiles = pfs.emptyFiles;
    const key = keyTemplate === undefined ? undefined : expandCaptures(keyTemplate, m.captures, pfs.glob);
    return { input, key };
  });
}

const sortedCache = new WeakMap<FileEntry[], FileEntry[]>();

function sortedFiles(files: FileEntry[]): FileEntry[] {
  let s = sortedCache.get(files);
  if (!s) {
    s = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    sortedCache.set(files, s);
  }
  return s;
}

/** Files at `path` or under it: a contiguous run of the sorted list (every path with a prefix sorts together). */
function filesUnder(files: FileEntry[], paths: string[], path: string): FileEntry[] {
  if (path === '/') return files;
  const prefix = path + '/';
  const out: FileEntry[] = [];
  const exact = lowerBound(paths, path);
  if (exact < paths.length && paths[exact] === path) out.push(files[exact]);
  for (let i = lowerBound(paths, prefix); i < paths.length && paths[i].startsWith(prefix); i++) out.push(files[i]);
  return out;
}

/** The first index of a sorted array whose element is not below `x`. */
export function lowerBound(a: string[], x: string): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function byKey(items: Keyed[]): Map<string, DatumInput[]> {
  const m = new Map<string, DatumInput[]>();
  for (const it of items) {
    const k = it.key ?? '';
    const list = m.get(k);
    if (list) list.push(it.input);
    else m.set(k, [it.input]);
  }
  return m;
}

function sortedKeys(maps: Map<string, DatumInput[]>[]): string[] {
  const keys = new Set<string>();
  for (const m of maps) for (const k of m.keys()) keys.add(k);
  return [...keys].sort();
}

/**
 * For each join key: the cross product of the inputs' datums with that key. When some input lacks the key, as
 * Pachyderm 2.x's join iterator does: only the inputs that have it AND are outer joins are crossed (inner inputs
 * that have it are left out of that datum); with no such input, the key gives no datum.
 */
function joinDatums(children: PfsInput[], snap: SnapshotOf): DatumInput[][] {
  const maps = children.map((c) =>
    byKey(pfsDatums(c, snap, c.joinOn).map((k) => ({ ...k, input: { ...k.input, joinOn: k.key } }))),
  );
  const out: DatumInput[][] = [];
  for (const key of sortedKeys(maps)) {
    out.push(
      ...joinKey(
        children,
        maps.map((m) => m.get(key)),
      ),
    );
  }
  return out;
}

/** The datums of one join key, from each child's matched inputs with that key (undefined: none). */
export function joinKey(
  children: readonly Pick<PfsInput, 'outerJoin'>[],
  present: (DatumInput[] | undefined)[],
): DatumInput[][] {
  const complete = present.every((p) => p !== undefined);
  const sides = complete
    ? (present as DatumInput[][])
    : present.filter((p, i): p is DatumInput[] => p !== undefined && children[i].outerJoin === true);
  if (sides.length === 0) return [];
  let acc: DatumInput[][] = [[]];
  for (const side of sides) {
    const next: DatumInput[][] = [];
    for (const a of acc) for (const b of side) next.push([...a, b]);
    acc = next;
  }
  return acc;
}

/** One datum per group key, holding every matched path of every input with that key (input order, then path). */
function groupDatums(children: PfsInput[], snap: SnapshotOf): DatumInput[][] {
  const maps = children.map((c) =>
    byKey(pfsDatums(c, snap, c.groupBy).map((k) => ({ ...k, input: { ...k.input, groupBy: k.key } }))),
  );
  return sortedKeys(maps).map((key) => maps.flatMap((m) => m.get(key) ?? []));
}

// ---------------------------------------------------------------------------------------------------------
// Identity

function writeField(h: ReturnType<typeof createHash>, s: string): void {
  const b = Buffer.from(s, 'utf8');
  h.update(b);
  const len = Buffer.alloc(8);
  len.writeBigInt64BE(BigInt(b.length));
  h.update(len);
}

/** Stable across jobs: input names, repos, branches and matched paths only. */
export function datumId(inputs: readonly Pick<DatumInput, 'name' | 'repo' | 'branch' | 'path'>[]): string {
  const h = createHash('sha256');
  for (const i of inputs) {
    writeField(h, i.name);
    writeField(h, i.repo);
    writeField(h, i.branch);
    writeField(h, i.path);
  }
  return h.digest('hex');
}

/** The content hash of one input of a datum: the paths and content hashes of every file it mounts. */
export function inputContentHash(input: Pick<DatumInput, 'files'>): string {
  const h = createHash('sha256');
  for (const f of input.files) {
    writeField(h, f.path);
    writeField(h, f.hash);
  }
  return h.digest('hex');
}

/** Changes iff the id (names, repos, branches, paths), any mounted file's path or content, or the salt changes. */
export function datumHash(datum: Datum, pipelineSalt: string): string {
  const h = createHash('sha256');
  writeField(h, datum.id);
  for (const i of datum.inputs) writeField(h, inputContentHash(i));
  writeField(h, pipelineSalt);
  return h.digest('hex');
}

/**
 * The variables Pachyderm sets for a datum's inputs: `<name>` = `$PFS_ROOT/<name><path>` and `<name>_COMMIT`.
 * (In a group several inputs share a name; the last one wins, as the variables are set in input order.)
 */
export function datumInputEnv(datum: Datum, pfsRoot: string): Record<string, string> {
  const env: Record<string, string> = {};
  const root = pfsRoot.replace(/\/+$/, '');
  for (const i of datum.inputs) {
    env[i.name] = `${root}/${i.name}${i.path}`;
    env[`${i.name}_COMMIT`] = i.commit;
  }
  return env;
}

/** All of one datum's own variables: its inputs' paths and commits, join and group keys, PACH_DATUM_ID. */
export function datumEnv(datum: Datum, pfsRoot: string): Record<string, string> {
  const env = datumInputEnv(datum, pfsRoot);
  for (const i of datum.inputs) {
    if (i.joinOn !== undefined) env[`PACH_DATUM_${i.name}_JOIN_ON`] = i.joinOn;
    if (i.groupBy !== undefined) env[`PACH_DATUM_${i.name}_GROUP_BY`] = i.groupBy;
  }
  env.PACH_DATUM_ID = datum.id;
  return env;
}

/** What `list datum` shows of a datum's inputs. */
export function datumInputsJson(d: Datum): string {
  return JSON.stringify(
    d.inputs.map((i) => ({
      name: i.name,
      repo: i.repo,
      branch: i.branch,
      commit: i.commit,
      path: i.path,
      files: i.files.length,
    })),
  );
}
