/**
 * Planning a job: which datums it runs, which it takes from the last one unchanged, which it drops. Writes rows
 * only for the datums that change (store/datums.ts); the unchanged ones cost nothing but being counted.
 *
 * Incremental when the previous job of the pipeline read the same input spec with the same salt and its input
 * commits still exist: each input repo's changed paths between the two jobs' commits give the matched paths
 * (datum inputs) that changed, and the input tree (cross, union, join, group) maps those to the datums that
 * changed, read from the store by path. Anything else (a first job, a changed spec or salt, a squashed input
 * commit, two crossed inputs changing at once, a join key that cannot be turned back into paths) takes the full
 * pass: every datum computed and hashed in memory, still writing only for the changed ones.
 */
import { createHash } from 'node:crypto';
import { compileGlob, expandCaptures, globLiteralPrefix, globPaths } from '../pfs/glob.js';
import {
  computeDatums,
  datumHash,
  datumId,
  datumsOf,
  joinKey,
  type Datum,
  type DatumInput,
  type Snapshot,
} from './datums.js';
import { datumInputsJson } from './datums.js';
import type { JobInput, JobRow } from './jobs.js';
import { commitById, treeOf, type CommitRow } from '../pfs/commits.js';
import { childrenOf, type Input, type PfsInput, type PipelineSpec } from './spec.js';
import {
  closeVersion,
  currentHashes,
  currentUnfinished,
  currentVersion,
  openVersion,
  reusableVersion,
  versionsRunBy,
} from '../store/datum-versions.js';
import { changedPaths, treeFiles, treeFilesAt, type TreeRef } from '../store/files.js';
import type { Store } from '../store/store.js';

export interface QueuedDatum {
  datum: Datum;
  hash: string;
}

export interface Plan {
  total: number;
  queue: QueuedDatum[];
  skipped: number;
  recovered: number;
  /** 'incremental' | 'full' | 'resume': how the datums were found (logged) */
  mode: 'incremental' | 'full' | 'resume';
}

/** What makes two jobs' datums comparable: the input spec, the salt, and whether every job reprocesses. */
export function inputKey(spec: PipelineSpec, salt: string): string {
  return createHash('sha256')
    .update(JSON.stringify(spec.input))
    .update('\0' + salt + '\0' + (spec.reprocessSpec ?? ''))
    .digest('hex');
}

/** A datum input as stored to mount it again: everything but its files. */
type InputDef = Omit<DatumInput, 'files'>;

function defJson(d: Datum): string {
  return JSON.stringify(d.inputs.map(({ files: _files, ...rest }) => rest));
}

class Fallback extends Error {}

/** Commits of the job's inputs and their trees, looked up once. */
class Trees {
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
function datumFromDef(def: string, trees: Trees): Datum {
  const inputs = (JSON.parse(def) as InputDef[]).map((i) => {
    const t = trees.of(i.repo, i.branch);
    return { ...i, commit: t.commit?.id ?? '', files: trees.filesAt(i.repo, i.branch, i.path) };
  });
  return { id: datumId(inputs), inputs };
}

/** Plans a new job (inside the caller's transaction). `prev` is the pipeline's previous job, `lastOk` its last successful one. */
export function planJob(
  store: Store,
  job: JobRow,
  spec: PipelineSpec,
  inputs: JobInput[],
  prev: JobRow | undefined,
  lastOk: JobRow | undefined,
): Plan {
  const trees = new Trees(store, inputs);
  const everyJob = spec.reprocessSpec === 'every_job';
  const ctx: Ctx = { store, job, trees, everyJob, lastOk, queue: [], skipped: 0, added: 0, dropped: 0 };
  let mode: Plan['mode'] = 'full';
  let planned = false;
  if (prev && !everyJob && prev.input_key === job.input_key && prev.state !== 'running') {
    try {
      // a nested transaction is a savepoint: a fallback undoes what the incremental pass wrote
      store.db.transaction(() => incremental(ctx, spec.input, inputs, prev))();
      planned = true;
      mode = 'incremental';
    } catch (e) {
      if (!(e instanceof Fallback)) throw e;
      ctx.queue = [];
      ctx.skipped = 0;
      ctx.added = 0;
      ctx.dropped = 0;
    }
  }
  let total: number;
  if (planned) total = prev!.n_total + ctx.added - ctx.dropped;
  else total = full(ctx, spec.input);
  return { total, queue: ctx.queue, skipped: total - ctx.queue.length, recovered: 0, mode };
}

/** The plan of an interrupted job, resumed: what it had not finished, over the same input commits. */
export function resumePlan(store: Store, job: JobRow, inputs: JobInput[]): Plan {
  const trees = new Trees(store, inputs);
  const queue: QueuedDatum[] = [];
  let recovered = 0;
  for (const v of versionsRunBy(store, job.id)) {
    if (v.since !== job.seq) continue;
    if (v.state === 'success') recovered++;
    else if (v.def) queue.push({ datum: datumFromDef(v.def, trees), hash: v.hash });
  }
  const total = job.n_total;
  return { total, queue, skipped: total - queue.length - recovered, recovered, mode: 'resume' };
}

interface Ctx {
  store: Store;
  job: JobRow;
  trees: Trees;
  everyJob: boolean;
  lastOk: JobRow | undefined;
  queue: QueuedDatum[];
  skipped: number;
  /** datums new to the set, and datums that left it (the job's total follows from the last one's) */
  added: number;
  dropped: number;
}

/** A datum whose hash differs from its current version (or that has none, or did not succeed): reuse or queue it. */
function change(ctx: Ctx, d: Datum, hash: string, current: { hash: string; state: string } | undefined): void {
  const { store, job } = ctx;
  if (current) closeVersion(store, job.pipeline, d.id, job.seq);
  else ctx.added++;
  const from =
    !ctx.everyJob && ctx.lastOk ? reusableVersion(store, job.pipeline, d.id, hash, ctx.lastOk.seq) : undefined;
  if (from) {
    // taken back from the last successful job: its outputs stay under the job that ran it
    openVersion(store, { ...from, since: job.seq, inputs: datumInputsJson(d), def: null });
    ctx.skipped++;
    return;
  }
  openVersion(store, {
    pipeline: job.pipeline,
    id: d.id,
    since: job.seq,
    job: job.id,
    hash,
    state: 'pending',
    tries: 0,
    started: null,
    finished: null,
    seconds: null,
    log: null,
    error: null,
    inputs: datumInputsJson(d),
    def: defJson(d),
  });
  ctx.queue.push({ datum: d, hash });
}

/** Every datum computed and hashed; returns how many there are. */
function full(ctx: Ctx, input: Input): number {
  const { store, job } = ctx;
  const datums = computeDatums(input, (repo, branch, glob) => ctx.trees.snapshot(repo, branch, glob));
  const current = currentHashes(store, job.pipeline);
  const ids = new Set<string>();
  for (const d of datums) {
    ids.add(d.id);
    const h = datumHash(d, job.salt);
    const cur = current.get(d.id);
    if (cur && cur.hash === h && cur.state === 'success' && !ctx.everyJob) continue;
    change(ctx, d, h, cur);
  }
  for (const id of current.keys()) if (!ids.has(id)) closeVersion(store, job.pipeline, id, job.seq);
  return ids.size;
}

// ---------------------------------------------------------------------------------------------------------
// Incremental: the datums that involve a changed matched path, in the old and the new state

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

function incremental(ctx: Ctx, input: Input, inputs: JobInput[], prev: JobRow): void {
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
