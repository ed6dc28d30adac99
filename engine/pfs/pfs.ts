/**
 * PFS on the store: repos, branches, commits with parents, files. A commit is stored as what it changed over its
 * parent (file versions live over a range of commits, see store/files.ts), so a commit costs what it changes, not
 * the size of the repo; contents live once in the blob store however many commits hold them. Every change (a put
 * of one file, a folder or many files; a delete; a job's output) is ONE commit made in one transaction.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, mkdirSync, statSync, lstatSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { pipeline as streamPipeline } from 'node:stream/promises';
import { lowerBound } from '../pps/datums.js';
import { globPaths } from './glob.js';
import {
  addHeadFile,
  dropRepoFiles,
  headHasBelow,
  removeHeadFile,
  removeHeadFilesBelow,
  treeFile,
  treeFiles,
  treeFilesAt,
  type FileRow,
  type TreeRef,
} from '../store/files.js';
import { followLink, walkLocal, type WalkOptions } from './local-tree.js';
import { beginStaging } from '../store/staging.js';
import { now, type Store, StoreError } from '../store/store.js';

export type { FileRow, TreeRef };

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

export interface RepoRow {
  name: string;
  created: string;
  description: string;
  pipeline: string | null;
}

export const REPO_NAME = /^[a-zA-Z0-9_-]+$/;

export function checkRepoName(name: string, what = 'repo'): void {
  if (!REPO_NAME.test(name)) {
    throw new StoreError(`invalid ${what} name ${JSON.stringify(name)}: use letters, digits, '_' and '-' only`);
  }
}

export function newId(): string {
  return randomUUID().replace(/-/g, '');
}

/** A repo path: rooted, no empty, '.' or '..' segments. '/' is the root. */
export function normalizePath(p: string): string {
  if (p.includes('\0')) throw new StoreError(`path ${JSON.stringify(p)} holds a NUL byte`);
  const segs = p.split('/').filter((s) => s !== '');
  for (const s of segs) {
    if (s === '..' || s === '.') {
      throw new StoreError(
        `path ${JSON.stringify(p)} has a ${JSON.stringify(s)} segment: paths must stay inside the repo`,
      );
    }
  }
  return '/' + segs.join('/');
}

// ---------- repos and branches ----------

export function getRepo(store: Store, name: string): RepoRow | undefined {
  return store.stmt(`SELECT name, created, description, pipeline FROM repos WHERE name = ?`).get(name) as
    | RepoRow
    | undefined;
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
    store
      .stmt(`INSERT INTO repos (name, created, description, pipeline) VALUES (?, ?, ?, ?)`)
      .run(name, now(), opts.description ?? '', opts.pipeline ?? null);
    store.stmt(`INSERT INTO branches (repo, name, head) VALUES (?, 'master', NULL)`).run(name);
    return true;
  });
}

/** Removes a repo, its branches and commits (not its blobs: other commits may hold them). */
export function dropRepo(store: Store, name: string): void {
  dropRepoFiles(store, name);
  store.stmt(`DELETE FROM provenance WHERE commit_id IN (SELECT id FROM commits WHERE repo = ?)`).run(name);
  store.stmt(`DELETE FROM commits WHERE repo = ?`).run(name);
  store.stmt(`DELETE FROM branches WHERE repo = ?`).run(name);
  store.stmt(`DELETE FROM repos WHERE name = ?`).run(name);
}

/** Pipelines (name, spec JSON) that read a repo. */
export function readersOf(store: Store, repo: string): string[] {
  const rows = store.stmt(`SELECT name, spec FROM pipelines`).all() as { name: string; spec: string }[];
  const out: string[] = [];
  for (const r of rows) {
    const repos = new Set<string>();
    collectRepos(JSON.parse(r.spec).input, repos);
    if (repos.has(repo)) out.push(r.name);
  }
  return out;
}

function collectRepos(input: unknown, into: Set<string>): void {
  if (!input || typeof input !== 'object') return;
  const i = input as Record<string, unknown>;
  if (i.pfs && typeof i.pfs === 'object') into.add(String((i.pfs as Record<string, unknown>).repo));
  for (const k of ['cross', 'union', 'join', 'group'])
    if (Array.isArray(i[k])) for (const c of i[k] as unknown[]) collectRepos(c, into);
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
  const repos = store
    .stmt(`SELECT name, created, description, pipeline FROM repos ORDER BY created DESC, name`)
    .all() as RepoRow[];
  return repos.map((r) => inspectRepo(store, r));
}

export function inspectRepo(store: Store, r: RepoRow | string): RepoInfo {
  const repo = typeof r === 'string' ? mustRepo(store, r) : r;
  const branches = store.stmt(`SELECT name, head FROM branches WHERE repo = ? ORDER BY name`).all(repo.name) as {
    name: string;
    head: string | null;
  }[];
  const master = branches.find((b) => b.name === 'master') ?? branches[0];
  const head = master?.head ? commitById(store, master.head) : undefined;
  return { ...repo, branches: branches.map((b) => b.name), size_bytes: head?.size_bytes ?? 0, head: head?.id ?? null };
}

export function headOf(store: Store, repo: string, branch: string): CommitRow | undefined {
  const b = store
    .stmt<{ head: string | null }>(`SELECT head FROM branches WHERE repo = ? AND name = ?`)
    .get(repo, branch);
  return b?.head ? commitById(store, b.head) : undefined;
}

export function branchExists(store: Store, repo: string, branch: string): boolean {
  return store.stmt(`SELECT 1 FROM branches WHERE repo = ? AND name = ?`).get(repo, branch) !== undefined;
}

// ---------- commits and refs ----------

const COMMIT_COLS = `seq, id, repo, branch, parent, created, origin, job, description, n_files, size_bytes`;

export function commitById(store: Store, id: string): CommitRow | undefined {
  return store.stmt<CommitRow>(`SELECT ${COMMIT_COLS} FROM commits WHERE id = ?`).get(id);
}

export function commitBySeq(store: Store, seq: number): CommitRow | undefined {
  return store.stmt<CommitRow>(`SELECT ${COMMIT_COLS} FROM commits WHERE seq = ?`).get(seq);
}

/** Where a commit's files are read: the live rows when it is its branch's head, else its range of versions. */
export function treeOf(store: Store, c: CommitRow): TreeRef {
  const b = store
    .stmt<{ head: string | null }>(`SELECT head FROM branches WHERE repo = ? AND name = ?`)
    .get(c.repo, c.branch);
  return { repo: c.repo, branch: c.branch, seq: c.seq, head: b?.head === c.id };
}

/** `repo`, `repo@ref`, `repo@ref:/path` (path kept raw; undefined when absent). */
export function parseRepoRef(text: string): { repo: string; ref: string; path?: string } {
  const colon = text.indexOf(':');
  const head = colon >= 0 ? text.slice(0, colon) : text;
  const path = colon >= 0 ? text.slice(colon + 1) : undefined;
  const at = head.indexOf('@');
  const repo = at >= 0 ? head.slice(0, at) : head;
  const ref = at >= 0 ? head.slice(at + 1) : 'master';
  if (!repo) throw new StoreError(`${JSON.stringify(text)}: expected REPO[@BRANCH|@COMMIT][:PATH]`);
  checkRepoName(repo);
  if (!ref) throw new StoreError(`${JSON.stringify(text)}: empty branch or commit after '@'`);
  return { repo, ref, path };
}

/**
 * Resolves a ref of `repo`: a branch (its head), a commit id (or a unique prefix of at least 6 characters),
 * with optional ancestry suffixes: `^` (parent), `^N` / `~N` (N generations back), repeatable.
 */
export function resolveCommit(store: Store, repo: string, ref: string): CommitRow {
  mustRepo(store, repo);
  const m = /^(.*?)((?:[~^]\d*)*)$/.exec(ref)!;
  const base = m[1];
  let back = 0;
  for (const step of m[2].match(/[~^]\d*/g) ?? []) back += step.length > 1 ? Number(step.slice(1)) : 1;
  let c: CommitRow | undefined;
  if (branchExists(store, repo, base)) {
    c = headOf(store, repo, base);
    if (!c) throw new StoreError(`branch ${base} of repo ${repo} has no commits yet`);
  } else {
    c = commitById(store, base);
    if (!c && /^[0-9a-f]{6,}$/.test(base)) {
      const rows = store
        .stmt(`SELECT ${COMMIT_COLS} FROM commits WHERE repo = ? AND id >= ? AND id < ? LIMIT 2`)
        .all(repo, base, base + 'g') as CommitRow[];
      if (rows.length > 1) throw new StoreError(`commit prefix ${base} is ambiguous in repo ${repo}`);
      c = rows[0];
    }
    if (!c || c.repo !== repo) throw new StoreError(`no branch or commit ${JSON.stringify(base)} in repo ${repo}`);
  }
  for (let i = 0; i < back; i++) {
    if (!c!.parent) throw new StoreError(`${repo}@${ref}: commit ${c!.id} has only ${i} ancestor(s)`);
    c = commitById(store, c!.parent);
  }
  return c!;
}

/**
 * Commits of a repo, newest first: of one branch, or the ancestry of a commit ref. `page.after` (a commit id)
 * starts just below that commit, so a long history is read a page at a time.
 */
export function listCommits(
  store: Store,
  repo: string,
  branch?: string,
  limit = -1,
  page: { after?: string } = {},
): CommitRow[] {
  mustRepo(store, repo);
  let below = Number.MAX_SAFE_INTEGER;
  if (page.after) {
    const a = commitById(store, page.after) ?? resolveCommit(store, repo, page.after);
    if (a.repo !== repo) throw new StoreError(`commit ${page.after} is not in repo ${repo}`);
    below = a.seq;
  }
  if (branch && !branchExists(store, repo, branch)) {
    // a commit ref: its ancestry
    const out: CommitRow[] = [];
    let c: CommitRow | undefined = resolveCommit(store, repo, branch);
    while (c && c.seq >= below) c = c.parent ? commitById(store, c.parent) : undefined;
    while (c && (limit < 0 || out.length < limit)) {
      out.push(c);
      c = c.parent ? commitById(store, c.parent) : undefined;
    }
    return out;
  }
  return branch
    ? store
        .stmt<CommitRow>(
          `SELECT ${COMMIT_COLS} FROM commits WHERE repo = ? AND branch = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
        )
        .all(repo, branch, below, limit)
    : store
        .stmt<CommitRow>(`SELECT ${COMMIT_COLS} FROM commits WHERE repo = ? AND seq < ? ORDER BY seq DESC LIMIT ?`)
        .all(repo, below, limit);
}

export function provenanceOf(store: Store, commitId: string): { repo: string; branch: string; commit: string }[] {
  return store
    .stmt(`SELECT repo, branch, source AS "commit" FROM provenance WHERE commit_id = ? ORDER BY repo, branch`)
    .all(commitId) as {
    repo: string;
    branch: string;
    commit: string;
  }[];
}

/** Every file of a commit, sorted by path. */
export function filesOf(store: Store, commitSeq: number): FileRow[] {
  const c = commitBySeq(store, commitSeq);
  return c ? treeFiles(store, treeOf(store, c)) : [];
}

/** The file at `path` of a commit, or every file under the folder `path`, sorted. */
export function filesUnder(store: Store, commitSeq: number, path: string): FileRow[] {
  const c = commitBySeq(store, commitSeq);
  return c ? treeFilesAt(store, treeOf(store, c), normalizePath(path)) : [];
}

export interface Changes {
  puts?: FileRow[];
  deletes?: string[];
}

/**
 * Makes one commit on `repo@branch` from its head plus `changes` (inside one transaction), creating the branch
 * when it does not exist. Blobs referenced by `puts` must already be in the store. Returns the new commit.
 */
export function commitChanges(
  store: Store,
  repo: string,
  branch: string,
  changes: Changes,
  opts: CommitOptions = {},
): CommitRow {
  checkRepoName(branch, 'branch');
  const deletes = (changes.deletes ?? []).map(normalizePath);
  const puts = (changes.puts ?? []).map((f) => ({ path: normalizePath(f.path), hash: f.hash, size: f.size }));
  const seen = new Set<string>();
  for (const f of puts) {
    if (f.path === '/') throw new StoreError(`cannot put a file at the root of ${repo}: name a path`);
    if (seen.has(f.path)) throw new StoreError(`${f.path} is put twice in one commit`);
    seen.add(f.path);
  }
  return store.tx(() => {
    mustRepo(store, repo);
    ensureBranch(store, repo, branch);
    const parent = headOf(store, repo, branch);
    const w = beginCommit(store, repo, branch, parent, { origin: 'user', ...opts });
    for (const p of deletes) {
      const hit = w.remove(p, true);
      if (!hit) throw new StoreError(`${repo}@${branch}:${p}: no such file or folder`);
    }
    for (const f of puts) {
      if (headHasBelow(store, repo, branch, f.path))
        throw new StoreError(`${repo}@${branch}:${f.path} is a folder; cannot put a file there`);
      for (let i = f.path.lastIndexOf('/'); i > 0; i = f.path.lastIndexOf('/', i - 1)) {
        const anc = f.path.slice(0, i);
        if (seen.has(anc) || treeFile(store, w.tree, anc))
          throw new StoreError(`${repo}@${branch}:${anc} is a file; cannot put ${f.path} under it`);
      }
      w.put(f);
    }
    return w.finish();
  });
}

function ensureBranch(store: Store, repo: string, branch: string): void {
  if (!branchExists(store, repo, branch))
    store.stmt(`INSERT INTO branches (repo, name, head) VALUES (?, ?, NULL)`).run(repo, branch);
}

/** A commit being written: its row exists (for its seq), file versions change as it goes, counts are kept. */
interface CommitWriter {
  readonly seq: number;
  /** the head as it is being changed (live rows) */
  readonly tree: TreeRef;
  /** removes a file, or (`folders`) also everything under the path; whether anything was there */
  remove(path: string, folders: boolean): boolean;
  /** puts a file, replacing the live one (a no-op when the content is the same) */
  put(f: FileRow): void;
  finish(): CommitRow;
}

function beginCommit(
  store: Store,
  repo: string,
  branch: string,
  parent: CommitRow | undefined,
  opts: CommitOptions,
): CommitWriter {
  const id = opts.id ?? newId();
  const info = store
    .stmt(
      `INSERT INTO commits (id, repo, branch, parent, created, origin, job, description, n_files, size_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0)`,
    )
    .run(id, repo, branch, parent?.id ?? null, now(), opts.origin ?? 'user', opts.job ?? null, opts.description ?? '');
  const seq = Number(info.lastInsertRowid);
  let nFiles = parent?.n_files ?? 0;
  let bytes = parent?.size_bytes ?? 0;
  const tree: TreeRef = { repo, branch, seq, head: true };
  return {
    seq,
    tree,
    remove(path, folders) {
      let hit = false;
      if (path !== '/') {
        const f = removeHeadFile(store, repo, branch, path, seq);
        if (f) {
          hit = true;
          nFiles--;
          bytes -= f.size;
        }
      }
      if (folders) {
        const r = removeHeadFilesBelow(store, repo, branch, path, seq);
        if (r.n) {
          hit = true;
          nFiles -= r.n;
          bytes -= r.bytes;
        }
      }
      return hit;
    },
    put(f) {
      const live = treeFile(store, tree, f.path);
      if (live && live.hash === f.hash && live.size === f.size) return;
      if (live) {
        removeHeadFile(store, repo, branch, f.path, seq);
        nFiles--;
        bytes -= live.size;
      }
      addHeadFile(store, repo, branch, f, seq);
      nFiles++;
      bytes += f.size;
    },
    finish() {
      store.stmt(`UPDATE commits SET n_files = ?, size_bytes = ? WHERE seq = ?`).run(nFiles, bytes, seq);
      const prov = store.stmt(`INSERT INTO provenance (commit_id, repo, branch, source) VALUES (?, ?, ?, ?)`);
      for (const p of opts.provenance ?? []) prov.run(id, p.repo, p.branch, p.commit);
      store.stmt(`UPDATE branches SET head = ? WHERE repo = ? AND name = ?`).run(id, repo, branch);
      return commitById(store, id)!;
    },
  };
}

// ---------- put / get / list / glob ----------

export interface PutItem {
  /** a local file or folder */
  local: string;
  /** the repo path it goes to (a folder's files go under it) */
  dest: string;
}

export { walkLocal } from './local-tree.js';

/** Expands local files and folders (`recursive` needed for folders) into (local file, repo path) pairs. */
export function expandPutItems(
  items: PutItem[],
  recursive: boolean,
  walk: WalkOptions = {},
): { local: string; path: string }[] {
  const out: { local: string; path: string }[] = [];
  for (const it of items) {
    let st;
    try {
      st = statSync(it.local);
    } catch {
      if (lstatSync(it.local, { throwIfNoEntry: false })?.isSymbolicLink())
        followLink(it.local, dirname(it.local), { followLinks: true });
      throw new StoreError(`${it.local}: no such file or folder`);
    }
    const dest = normalizePath(it.dest);
    if (st.isDirectory()) {
      if (!recursive) throw new StoreError(`${it.local} is a folder: use -r to put it with everything under it`);
      for (const f of walkLocal(it.local, walk))
        out.push({ local: f, path: normalizePath(dest + '/' + relative(it.local, f).split('\\').join('/')) });
    } else {
      out.push({ local: it.local, path: dest });
    }
  }
  return out;
}

/**
 * Puts files into `repo@branch` as ONE commit: contents go to the blob store first (whole, fsynced, renamed),
 * then one transaction makes the commit. Checks everything it can before writing anything.
 */
export async function putFiles(
  store: Store,
  repo: string,
  branch: string,
  files: { local: string; path: string }[],
  opts: { description?: string; deletes?: string[] } = {},
): Promise<CommitRow> {
  const r = mustRepo(store, repo);
  if (r.pipeline)
    throw new StoreError(`repo ${repo} is the output of pipeline ${r.pipeline}; only its jobs write to it`);
  checkRepoName(branch, 'branch');
  const seen = new Set<string>();
  for (const f of files) {
    const p = normalizePath(f.path);
    if (p === '/') throw new StoreError(`cannot put ${f.local} at the root of ${repo}: name a path`);
    if (seen.has(p)) throw new StoreError(`two files go to ${repo}@${branch}:${p}`);
    seen.add(p);
  }
  const puts: FileRow[] = new Array(files.length);
  const staging = beginStaging(store);
  try {
    let next = 0;
    const worker = async () => {
      while (next < files.length) {
        const i = next++;
        const ref = await store.blobs.putFile(files[i].local);
        puts[i] = { path: normalizePath(files[i].path), ...ref };
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, files.length) }, worker));
    return commitChanges(store, repo, branch, { puts, deletes: opts.deletes }, { description: opts.description });
  } finally {
    staging.done();
  }
}

export function deleteFiles(store: Store, repo: string, branch: string, paths: string[]): CommitRow {
  const r = mustRepo(store, repo);
  if (r.pipeline)
    throw new StoreError(`repo ${repo} is the output of pipeline ${r.pipeline}; only its jobs write to it`);
  if (!branchExists(store, repo, branch) || !headOf(store, repo, branch))
    throw new StoreError(`branch ${branch} of repo ${repo} has no commits`);
  return commitChanges(store, repo, branch, { deletes: paths });
}

export interface ListEntry {
  path: string;
  type: 'file' | 'dir';
  size: number;
  hash?: string;
}

/** The entries directly under `path` (or the file itself), as `pachctl list file`. */
export function listFile(store: Store, commit: CommitRow, path = '/'): ListEntry[] {
  const p = normalizePath(path);
  const files = treeFilesAt(store, treeOf(store, commit), p);
  if (files.length === 1 && files[0].path === p)
    return [{ path: p, type: 'file', size: files[0].size, hash: files[0].hash }];
  if (!files.length && p !== '/') throw new StoreError(`${commit.repo}@${commit.id}:${p}: no such file or folder`);
  const prefix = p === '/' ? '/' : p + '/';
  const entries = new Map<string, ListEntry>();
  for (const f of files) {
    const rest = f.path.slice(prefix.length);
    const slash = rest.indexOf('/');
    if (slash < 0) entries.set(f.path, { path: f.path, type: 'file', size: f.size, hash: f.hash });
    else {
      const d = prefix + rest.slice(0, slash);
      const e = entries.get(d) ?? { path: d, type: 'dir' as const, size: 0 };
      e.size += f.size;
      entries.set(d, e);
    }
  }
  return [...entries.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** Files and folders matching a glob, as `pachctl glob file` (globs match folders too). */
export function globFile(store: Store, commit: CommitRow, pattern: string): ListEntry[] {
  const files = treeFiles(store, treeOf(store, commit));
  const paths = files.map((f) => f.path);
  // prefix sums over the sorted files: a folder's size is the sum over its contiguous run
  const sums = new Float64Array(files.length + 1);
  for (let i = 0; i < files.length; i++) sums[i + 1] = sums[i] + files[i].size;
  return globPaths(paths, pattern).map((m) => {
    if (!m.dir) {
      const f = files[lowerBound(paths, m.path)];
      return { path: m.path, type: 'file' as const, size: f.size, hash: f.hash };
    }
    if (m.path === '/') return { path: m.path, type: 'dir' as const, size: sums[files.length] };
    const lo = lowerBound(paths, m.path + '/');
    const hi = lowerBound(paths, m.path + '0');
    return { path: m.path, type: 'dir' as const, size: sums[hi] - sums[lo] };
  });
}

/**
 * Writes a file to `out` (a local path) or to stdout; a folder (with `recursive`) to the folder `out`.
 * Returns how many files were written.
 */
export async function getFile(
  store: Store,
  commit: CommitRow,
  path: string,
  out: string | undefined,
  recursive: boolean,
): Promise<number> {
  const p = normalizePath(path);
  const files = treeFilesAt(store, treeOf(store, commit), p);
  if (!files.length) throw new StoreError(`${commit.repo}@${commit.id}:${p}: no such file or folder`);
  if (files.length === 1 && files[0].path === p) {
    if (out) {
      mkdirSync(dirname(out), { recursive: true });
      await store.blobs.writeTo(files[0].hash, out);
    } else {
      await streamPipeline(createReadStream(store.blobs.pathOf(files[0].hash)), process.stdout, { end: false });
    }
    return 1;
  }
  if (!recursive) throw new StoreError(`${commit.repo}@${commit.id}:${p} is a folder: use -r with -o LOCAL_FOLDER`);
  if (!out) throw new StoreError(`getting a folder needs -o LOCAL_FOLDER`);
  const prefix = p === '/' ? '/' : p + '/';
  for (const f of files) {
    const dest = join(out, f.path.slice(prefix.length));
    mkdirSync(dirname(dest), { recursive: true });
    await store.blobs.writeTo(f.hash, dest);
  }
  return files.length;
}

export function isLocalDir(p: string): boolean {
  try {
    return lstatSync(p).isDirectory() || statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Makes one commit on `repo@branch` holding exactly `files`, inside the caller's transaction or its own: the
 * head's files are diffed against them, so only what differs gets new versions. Reads the whole head: for a job
 * output that has to be rebuilt whole; `commitDiff` is the incremental path.
 */
export function commitFiles(
  store: Store,
  repo: string,
  branch: string,
  files: FileRow[],
  opts: CommitOptions = {},
): CommitRow {
  return store.tx(() => {
    mustRepo(store, repo);
    ensureBranch(store, repo, branch);
    const parent = headOf(store, repo, branch);
    const want = new Map(files.map((f) => [f.path, f]));
    const w = beginCommit(store, repo, branch, parent, { origin: 'job', ...opts });
    for (const f of treeFiles(store, w.tree)) if (!want.has(f.path)) w.remove(f.path, false);
    for (const f of files) w.put(f);
    return w.finish();
  });
}

/** Two writers of one path, or a file where a folder is: found while applying a job's output. */
export class PathConflict extends Error {
  constructor(
    readonly path: string,
    readonly kind: 'same' | 'file-above' | 'folder',
    /** the conflicting path already there (for `file-above`: the file; for `folder`: a file under it) */
    readonly other: string,
  ) {
    super(`path conflict at ${path}`);
    this.name = 'PathConflict';
  }
}

/**
 * One commit on `repo@branch` = its head minus the files `removes` plus `puts`, inside the caller's transaction.
 * A put may not land on a file still there, nor under a file, nor where files are below (a job's datums own
 * disjoint paths): that throws PathConflict and the caller's transaction rolls back. Costs what it changes.
 */
export function commitDiff(
  store: Store,
  repo: string,
  branch: string,
  removes: Iterable<string>,
  puts: FileRow[],
  opts: CommitOptions = {},
): CommitRow {
  mustRepo(store, repo);
  ensureBranch(store, repo, branch);
  const parent = headOf(store, repo, branch);
  const w = beginCommit(store, repo, branch, parent, { origin: 'job', ...opts });
  const putPaths = new Set<string>();
  for (const f of puts) {
    if (putPaths.has(f.path)) throw new PathConflict(f.path, 'same', f.path);
    putPaths.add(f.path);
  }
  // a path removed and put again with the same content keeps its version (and costs no row)
  const removeSet = new Set(removes);
  const keep = new Set<string>();
  for (const f of puts) {
    if (!removeSet.has(f.path)) continue;
    const live = treeFile(store, w.tree, f.path);
    if (live && live.hash === f.hash && live.size === f.size) keep.add(f.path);
  }
  for (const p of removeSet) if (!keep.has(p)) w.remove(p, false);
  for (const f of puts) {
    if (keep.has(f.path)) continue;
    if (treeFile(store, w.tree, f.path)) throw new PathConflict(f.path, 'same', f.path);
    if (headHasBelow(store, repo, branch, f.path)) throw new PathConflict(f.path, 'folder', f.path);
    for (let i = f.path.lastIndexOf('/'); i > 0; i = f.path.lastIndexOf('/', i - 1)) {
      const anc = f.path.slice(0, i);
      if (putPaths.has(anc) || treeFile(store, w.tree, anc)) throw new PathConflict(f.path, 'file-above', anc);
    }
    w.put(f);
  }
  return w.finish();
}

type CommitOptions = {
  origin?: 'user' | 'job';
  job?: string;
  id?: string;
  description?: string;
  provenance?: { repo: string; branch: string; commit: string }[];
};
