/**
 * The incremental plan: each input repo's changed paths between the two jobs' commits give the matched paths that
 * changed, and the input tree (cross, union, join, group) maps those to the datums that changed, in the old and the
 * new state, read from the store by path. Throws Fallback where it cannot (the full pass plans the job then).
 */
import { commitById } from '../pfs/commits.js';
import { compileGlob, expandCaptures, globPaths } from '../pfs/glob.js';
import { closeVersion, currentUnfinished, currentVersion } from '../store/datum-versions.js';
import { changedPaths, type TreeRef, treeFilesAt } from '../store/files.js';
import { type Datum, type DatumInput, datumHash, datumId, datumsOf, joinKey } from './datums.js';
import type { JobInput, JobRow } from './jobs.js';
import { change, type Ctx, Fallback } from './plan-changes.js';
import { datumFromDef } from './plan-trees.js';
import { childrenOf, type Input, type PfsInput } from './spec/pipeline-spec.js';

/** A datum input in the old state: its identity only. */
type Tuple = DatumInput[];

interface Delta {
  /** tuples of the new state involving a changed matched path (with files) */
  now: Tuple[];
  /** tuples of the old state involving a changed matched path (identity only) */
  old: Tuple[];
}

interface RepoChange {
  paths: string[];
  oldTree?: TreeRef;
}

export function incremental(ctx: Ctx, input: Input, inputs: JobInput[], prev: JobRow): void {
  const { store, job } = ctx;
  const before = JSON.parse(prev.inputs) as JobInput[];
  const changes = new Map<string, RepoChange>();
  for (const inp of inputs) {
    const old = before.find((b) => b.repo === inp.repo && b.branch === inp.branch);
    if (!old) throw new Fallback();
    if (old.commit === inp.commit) continue;
    const c0 = old.commit ? commitById(store, old.commit) : undefined;
    const c1 = inp.commit ? commitById(store, inp.commit) : undefined;
    if ((old.commit && !c0) || !c1 || (c0 && c0.seq > c1.seq)) throw new Fallback();
    const paths = [...changedPaths(store, inp.repo, inp.branch, c0?.seq ?? 0, c1.seq)];
    changes.set(`${inp.repo}@${inp.branch}`, {
      paths,
      oldTree: c0 ? { repo: c0.repo, branch: c0.branch, seq: c0.seq, head: false } : undefined,
    });
  }
  const delta = deltaOf(ctx, input, changes);

  const newIds = new Set<string>();
  const touched = new Set<string>();
  for (const t of delta.now) {
    const d: Datum = { id: datumId(t), inputs: t };
    if (newIds.has(d.id)) continue;
    newIds.add(d.id);
    touched.add(d.id);
    const h = datumHash(d, job.salt);
    const cur = currentVersion(store, job.pipeline, d.id);
    if (cur && cur.hash === h && cur.state === 'success') continue;
    change(ctx, d, h, cur);
  }
  for (const t of delta.old) {
    const id = datumId(t);
    touched.add(id);
    if (!newIds.has(id) && closeVersion(store, job.pipeline, id, job.seq)) ctx.dropped++;
  }
  // datums of the last job that failed or never ran, and whose inputs did not change: run them again
  for (const v of currentUnfinished(store, job.pipeline)) {
    if (touched.has(v.id) || v.since === job.seq) continue;
    if (!v.def) throw new Fallback();
    const d = datumFromDef(v.def, ctx.trees);
    if (d.id !== v.id) throw new Fallback();
    change(ctx, d, datumHash(d, job.salt), v);
  }
}

function deltaOf(ctx: Ctx, input: Input, changes: Map<string, RepoChange>): Delta {
  if ('pfs' in input) return leafDelta(ctx, input.pfs, changes);
  const [kind, children] = childrenOf(input);
  switch (kind) {
    case 'union': {
      const ds = children.map((c) => deltaOf(ctx, c, changes));
      return { now: ds.flatMap((d) => d.now), old: ds.flatMap((d) => d.old) };
    }
    case 'cross': {
      const ds = children.map((c) => deltaOf(ctx, c, changes));
      const changed = ds.map((d, i) => (d.now.length || d.old.length ? i : -1)).filter((i) => i >= 0);
      if (changed.length === 0) return { now: [], old: [] };
      if (changed.length > 1) throw new Fallback();
      const i = changed[0];
      const all = children.map((c, j) =>
        j === i ? [] : datumsOf(c, (repo, branch, glob) => ctx.trees.snapshot(repo, branch, glob)),
      );
      const product = (side: Tuple[]) => {
        let acc: Tuple[] = [[]];
        for (let j = 0; j < children.length; j++) {
          const next: Tuple[] = [];
          for (const a of acc) for (const b of j === i ? side : all[j]) next.push([...a, ...b]);
          acc = next;
          if (!acc.length) break;
        }
        return acc;
      };
      return { now: product(ds[i].now), old: product(ds[i].old) };
    }
    case 'join':
    case 'group':
      return keyedDelta(ctx, kind, children.map(pfsOf), changes);
  }
}

function pfsOf(input: Input): PfsInput {
  if (!('pfs' in input)) throw new Fallback();
  return input.pfs;
}

/** The matched paths of a pfs input that hold a changed file, as they are now and as they were. */
function leafDelta(
  ctx: Ctx,
  pfs: PfsInput,
  changes: Map<string, RepoChange>,
  template?: string,
  keyField?: 'joinOn' | 'groupBy',
): Delta {
  const ch = changes.get(`${pfs.repo}@${pfs.branch}`);
  if (!ch?.paths.length) return { now: [], old: [] };
  const out: Delta = { now: [], old: [] };
  for (const m of globPaths(ch.paths, pfs.glob)) {
    const key = template === undefined ? undefined : expandCaptures(template, m.captures, pfs.glob);
    const nowIn = leafInput(ctx, pfs, m.path, 'now', key, keyField);
    if (nowIn) out.now.push([nowIn]);
    const oldIn = leafInput(ctx, pfs, m.path, 'old', key, keyField, ch.oldTree);
    if (oldIn) out.old.push([oldIn]);
  }
  return out;
}

/** A pfs input's datum input at a matched path, in the new state (with files) or the old one; undefined when empty there. */
function leafInput(
  ctx: Ctx,
  pfs: PfsInput,
  path: string,
  state: 'now' | 'old',
  key?: string,
  keyField?: 'joinOn' | 'groupBy',
  oldTree?: TreeRef,
): DatumInput | undefined {
  let files;
  if (state === 'now') files = ctx.trees.filesAt(pfs.repo, pfs.branch, path);
  else files = oldTree ? treeFilesAt(ctx.store, oldTree, path) : [];
  if (!files.length) return undefined;
  const t = ctx.trees.of(pfs.repo, pfs.branch);
  const input: DatumInput = {
    name: pfs.name,
    repo: pfs.repo,
    branch: pfs.branch,
    commit: t.commit?.id ?? '',
    glob: pfs.glob,
    path,
    files: state === 'now' ? files : [],
  };
  if (pfs.lazy !== undefined) input.lazy = pfs.lazy;
  if (pfs.emptyFiles !== undefined) input.emptyFiles = pfs.emptyFiles;
  if (keyField && key !== undefined) input[keyField] = key;
  return input;
}

/**
 * The path under which every matched path with a given key lies, when the key is one capture group `(*)` inside a
 * path segment whose other characters, and every segment before it, are literal (`/(*)`, `/slides/(*).json`,
 * `/a/(*)/*.svs` with `$1`): then keys turn back into paths.
 */
function keyFolder(glob: string, template: string): ((key: string) => string) | undefined {
  if (!/^\$(?:\{1\}|1)$/.test(template.trim())) return undefined;
  const clean = compileGlob(glob).pattern.trim().replace(/\/+$/, '');
  const rooted = clean.startsWith('/') ? clean : '/' + clean;
  const at = rooted.indexOf('(*)');
  if (at < 0) return undefined;
  const end = rooted.indexOf('/', at) < 0 ? rooted.length : rooted.indexOf('/', at);
  const before = rooted.slice(0, at);
  const after = rooted.slice(at + 3, end);
  if (/[*?[\]{}()\\]/.test(before + after)) return undefined;
  return (key) => (key.includes('/') || key === '' ? '' : `${before}${key}${after}`);
}

/** Every input of a join or group child with `key`, in the new state (with files) or the old one. */
function inputsWithKey(
  ctx: Ctx,
  pfs: PfsInput,
  template: string,
  keyField: 'joinOn' | 'groupBy',
  key: string,
  state: 'now' | 'old',
  oldTree?: TreeRef,
): DatumInput[] | undefined {
  const folder = keyFolder(pfs.glob, template);
  if (!folder) throw new Fallback();
  const dir = folder(key);
  if (!dir) throw new Fallback();
  const tree = state === 'now' ? ctx.trees.of(pfs.repo, pfs.branch).tree : oldTree;
  if (!tree) return undefined;
  const files = treeFilesAt(ctx.store, tree, dir);
  const out: DatumInput[] = [];
  for (const m of globPaths(
    files.map((f) => f.path),
    pfs.glob,
  )) {
    if (expandCaptures(template, m.captures, pfs.glob) !== key) continue;
    const input = leafInput(ctx, pfs, m.path, state, key, keyField, oldTree);
    if (input) out.push(input);
  }
  return out.length ? out : undefined;
}

function keyedDelta(ctx: Ctx, kind: 'join' | 'group', children: PfsInput[], changes: Map<string, RepoChange>): Delta {
  const keyField = kind === 'join' ? 'joinOn' : 'groupBy';
  const templates = children.map((c) => (kind === 'join' ? c.joinOn : c.groupBy) ?? '');
  const keys = new Set<string>();
  children.forEach((c, i) => {
    const d = leafDelta(ctx, c, changes, templates[i], keyField);
    for (const t of [...d.now, ...d.old]) keys.add(t[0][keyField]!);
  });
  const out: Delta = { now: [], old: [] };
  for (const key of [...keys].sort()) {
    for (const state of ['now', 'old'] as const) {
      const present = children.map((c, i) => {
        const ch = changes.get(`${c.repo}@${c.branch}`);
        // an unchanged repo reads the same in both states
        const oldTree = ch ? ch.oldTree : ctx.trees.of(c.repo, c.branch).tree;
        const s = state === 'old' && !ch ? 'now' : state;
        return inputsWithKey(ctx, c, templates[i], keyField, key, s, oldTree);
      });
      const tuples = kind === 'join' ? joinKey(children, present) : groupTuples(present);
      out[state].push(...tuples);
    }
  }
  return out;
}

function groupTuples(present: (DatumInput[] | undefined)[]): Tuple[] {
  const all = present.flatMap((p) => p ?? []);
  return all.length ? [all] : [];
}
