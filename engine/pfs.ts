/**
 * PFS on the store: repos, branches, commits with parents, files. A commit holds its whole file list
 * (path -> content hash, size); contents live once in the blob store however many commits hold them.
 * Every change (a put of one file, a folder or many files; a delete) is ONE commit made in one transaction.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, mkdirSync, readdirSync, statSync, lstatSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { pipeline as streamPipeline } from 'node:stream/promises';
import { globPaths } from './glob.js';
import { now, Store, StoreError } from './store/store.js';

export interface FileRow {
  path: string;
  hash: string;
  size: number;
}

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
      throw new StoreError(`path ${JSON.stringify(p)} has a ${JSON.stringify(s)} segment: paths must stay inside the repo`);
    }
  }
  return '/' + segs.join('/');
}

// ---------- repos and branches ----------

export function getRepo(store: Store, name: string): RepoRow | undefined {
  return store.db.prepare(`SELECT name, created, description, pipeline FROM repos WHERE name = ?`).get(name) as RepoRow | undefined;
}

export function mustRepo(store: Store, name: string): RepoRow {
  const r = getRepo(store, name);
  if (!r) throw new StoreError(`repo ${JSON.stringify(name)} not found (create it with \`tessella create repo ${name}\`)`);
  return r;
}

/** Creates a repo with an empty `master` branch. Inside a transaction of the caller or its own. */
export function createRepo(store: Store, name: string, opts: { description?: string; pipeline?: string; ifMissing?: boolean } = {}): boolean {
  checkRepoName(name);
  return store.tx(() => {
    const existing = getRepo(store, name);
    if (existing) {
      if (opts.ifMissing) return false;
      throw new StoreError(`repo ${JSON.stringify(name)} already exists`);
    }
    store.db.prepare(`INSERT INTO repos (name, created, description, pipeline) VALUES (?, ?, ?, ?)`).run(name, now(), opts.description ?? '', opts.pipeline ?? null);
    store.db.prepare(`INSERT INTO branches (repo, name, head) VALUES (?, 'master', NULL)`).run(name);
    return true;
  });
}

/** Removes a repo, its branches and commits (not its blobs: other commits may hold them). */
export function dropRepo(store: Store, name: string): void {
  const db = store.db;
  db.prepare(`DELETE FROM commit_files WHERE commit_seq IN (SELECT seq FROM commits WHERE repo = ?)`).run(name);
  db.prepare(`DELETE FROM provenance WHERE commit_id IN (SELECT id FROM commits WHERE repo = ?)`).run(name);
  db.prepare(`DELETE FROM commits WHERE repo = ?`).run(name);
  db.prepare(`DELETE FROM branches WHERE repo = ?`).run(name);
  db.prepare(`DELETE FROM repos WHERE name = ?`).run(name);
}

/** Pipelines (name, spec JSON) that read a repo. */
export function readersOf(store: Store, repo: string): string[] {
  const rows = store.db.prepare(`SELECT name, spec FROM pipelines`).all() as { name: string; spec: string }[];
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
  for (const k of ['cross', 'union', 'join', 'group']) if (Array.isArray(i[k])) for (const c of i[k] as unknown[]) collectRepos(c, into);
}

export function deleteRepo(store: Store, name: string): void {
  store.tx(() => {
    const repo = mustRepo(store, name);
    if (repo.pipeline) {
      throw new StoreError(`repo ${JSON.stringify(name)} is the output of pipeline ${repo.pipeline}: use \`tessella delete pipeline ${repo.pipeline}\``);
    }
    const readers = readersOf(store, name);
    if (readers.length) {
      throw new StoreError(`repo ${JSON.stringify(name)} is an input of pipeline(s) ${readers.join(', ')}: delete those first`);
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
  const repos = store.db.prepare(`SELECT name, created, description, pipeline FROM repos ORDER BY created DESC, name`).all() as RepoRow[];
  return repos.map((r) => inspectRepo(store, r));
}

export function inspectRepo(store: Store, r: RepoRow | string): RepoInfo {
  const repo = typeof r === 'string' ? mustRepo(store, r) : r;
  const branches = store.db.prepare(`SELECT name, head FROM branches WHERE repo = ? ORDER BY name`).all(repo.name) as { name: string; head: string | null }[];
  const master = branches.find((b) => b.name === 'master') ?? branches[0];
  const head = master?.head ? commitById(store, master.head) : undefined;
  return { ...repo, branches: branches.map((b) => b.name), size_bytes: head?.size_bytes ?? 0, head: head?.id ?? null };
}

export function headOf(store: Store, repo: string, branch: string): CommitRow | undefined {
  const b = store.db.prepare(`SELECT head FROM branches WHERE repo = ? AND name = ?`).get(repo, branch) as { head: string | null } | undefined;
  return b?.head ? commitById(store, b.head) : undefined;
}

export function branchExists(store: Store, repo: string, branch: string): boolean {
  return store.db.prepare(`SELECT 1 FROM branches WHERE repo = ? AND name = ?`).get(repo, branch) !== undefined;
}

// ---------- commits and refs ----------

const COMMIT_COLS = `seq, id, repo, branch, parent, created, origin, job, description, n_files, size_bytes`;

export function commitById(store: Store, id: string): CommitRow | undefined {
  return store.db.prepare(`SELECT ${COMMIT_COLS} FROM commits WHERE id = ?`).get(id) as CommitRow | undefined;
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
      const rows = store.db.prepare(`SELECT ${COMMIT_COLS} FROM commits WHERE repo = ? AND id >= ? AND id < ? LIMIT 2`).all(repo, base, base + 'g') as CommitRow[];
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

export function listCommits(store: Store, repo: string, branch?: string, limit = -1, page?: { after?: string }): CommitRow[] {
  mustRepo(store, repo);
  // page.after: only commits older than it
  const before = (page?.after && commitById(store, page.after)?.seq) || Number.MAX_SAFE_INTEGER;
  if (branch && !branchExists(store, repo, branch)) {
    // a commit ref: its ancestry
    const out: CommitRow[] = [];
    let c: CommitRow | undefined = resolveCommit(store, repo, branch);
    while (c && (limit < 0 || out.length < limit)) {
      if (c.seq < before) out.push(c);
      c = c.parent ? commitById(store, c.parent) : undefined;
    }
    return out;
  }
  const sql = branch
    ? `SELECT ${COMMIT_COLS} FROM commits WHERE repo = ? AND branch = ? AND seq < ? ORDER BY seq DESC LIMIT ?`
    : `SELECT ${COMMIT_COLS} FROM commits WHERE repo = ? AND seq < ? ORDER BY seq DESC LIMIT ?`;
  return (branch ? store.db.prepare(sql).all(repo, branch, before, limit) : store.db.prepare(sql).all(repo, before, limit)) as CommitRow[];
}

export function provenanceOf(store: Store, commitId: string): { repo: string; branch: string; commit: string }[] {
  return store.db.prepare(`SELECT repo, branch, source AS "commit" FROM provenance WHERE commit_id = ? ORDER BY repo, branch`).all(commitId) as {
    repo: string;
    branch: string;
    commit: string;
  }[];
}

export function filesOf(store: Store, commitSeq: number): FileRow[] {
  return store.db.prepare(`SELECT path, hash, size FROM commit_files WHERE commit_seq = ? ORDER BY path`).all(commitSeq) as FileRow[];
}

/** Files at or under `path` in a commit (range scan on the primary key). */
export function filesUnder(store: Store, commitSeq: number, path: string): FileRow[] {
  const p = normalizePath(path);
  if (p === '/') return filesOf(store, commitSeq);
  const exact = store.db.prepare(`SELECT path, hash, size FROM commit_files WHERE commit_seq = ? AND path = ?`).get(commitSeq, p) as FileRow | undefined;
  if (exact) return [exact];
  // '/' is 0x2f and '0' is 0x30: [p + '/', p + '0') is every path under p
  return store.db
    .prepare(`SELECT path, hash, size FROM commit_files WHERE commit_seq = ? AND path >= ? AND path < ? ORDER BY path`)
    .all(commitSeq, p + '/', p + '0') as FileRow[];
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
  return store.tx(() => {
    const db = store.db;
    mustRepo(store, repo);
    if (!branchExists(store, repo, branch)) db.prepare(`INSERT INTO branches (repo, name, head) VALUES (?, ?, NULL)`).run(repo, branch);
    const parent = headOf(store, repo, branch);
    const files = new Map<string, FileRow>();
    if (parent) for (const f of filesOf(store, parent.seq)) files.set(f.path, f);
    for (const d of changes.deletes ?? []) {
      const p = normalizePath(d);
      let hit = false;
      if (p === '/') {
        hit = files.size > 0;
        files.clear();
      } else {
        if (files.delete(p)) hit = true;
        for (const k of [...files.keys()]) if (k.startsWith(p + '/')) hit = files.delete(k) || hit;
      }
      if (!hit) throw new StoreError(`${repo}@${branch}:${p}: no such file or folder`);
    }
    const puts = changes.puts ?? [];
    if (puts.length) {
      const seen = new Set<string>();
      for (const f of puts) {
        const p = normalizePath(f.path);
        if (p === '/') throw new StoreError(`cannot put a file at the root of ${repo}: name a path`);
        if (seen.has(p)) throw new StoreError(`${p} is put twice in one commit`);
        seen.add(p);
        files.set(p, { path: p, hash: f.hash, size: f.size });
      }
      // the result must be a tree: no file where a folder is, nor under a file
      const dirs = new Set<string>();
      for (const f of files.keys()) for (let i = f.lastIndexOf('/'); i > 0; i = f.lastIndexOf('/', i - 1)) dirs.add(f.slice(0, i));
      for (const p of seen) {
        if (dirs.has(p)) throw new StoreError(`${repo}@${branch}:${p} is a folder; cannot put a file there`);
        for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/', i - 1)) {
          const anc = p.slice(0, i);
          if (files.has(anc)) throw new StoreError(`${repo}@${branch}:${anc} is a file; cannot put ${p} under it`);
        }
      }
    }
    return insertCommit(store, repo, branch, parent, [...files.values()], { origin: 'user', ...opts });
  });
}

// ---------- put / get / list / glob ----------

export interface PutItem {
  /** a local file or folder */
  local: string;
  /** the repo path it goes to (a folder's files go under it) */
  dest: string;
}

/** Every file under a local folder (recursive, hidden files included, symlinks followed), sorted. */
export function walkLocal(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      const st = e.isSymbolicLink() ? statSync(p) : undefined;
      if (e.isDirectory() || st?.isDirectory()) visit(p);
      else if (e.isFile() || st?.isFile()) out.push(p);
    }
  };
  visit(dir);
  return out;
}

/** Expands local files and folders (`recursive` needed for folders) into (local file, repo path) pairs. */
export function expandPutItems(items: PutItem[], recursive: boolean): { local: string; path: string }[] {
  const out: { local: string; path: string }[] = [];
  for (const it of items) {
    let st;
    try {
      st = statSync(it.local);
    } catch {
      throw new StoreError(`${it.local}: no such file or folder`);
    }
    const dest = normalizePath(it.dest);
    if (st.isDirectory()) {
      if (!recursive) throw new StoreError(`${it.local} is a folder: use -r to put it with everything under it`);
      for (const f of walkLocal(it.local)) out.push({ local: f, path: normalizePath(dest + '/' + relative(it.local, f).split('\\').join('/')) });
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
  if (r.pipeline) throw new StoreError(`repo ${repo} is the output of pipeline ${r.pipeline}; only its jobs write to it`);
  checkRepoName(branch, 'branch');
  const seen = new Set<string>();
  for (const f of files) {
    const p = normalizePath(f.path);
    if (p === '/') throw new StoreError(`cannot put ${f.local} at the root of ${repo}: name a path`);
    if (seen.has(p)) throw new StoreError(`two files go to ${repo}@${branch}:${p}`);
    seen.add(p);
  }
  const puts: FileRow[] = new Array(files.length);
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
}

export function deleteFiles(store: Store, repo: string, branch: string, paths: string[]): CommitRow {
  const r = mustRepo(store, repo);
  if (r.pipeline) throw new StoreError(`repo ${repo} is the output of pipeline ${r.pipeline}; only its jobs write to it`);
  if (!branchExists(store, repo, branch) || !headOf(store, repo, branch)) throw new StoreError(`branch ${branch} of repo ${repo} has no commits`);
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
  const files = filesUnder(store, commit.seq, p);
  if (files.length === 1 && files[0].path === p) return [{ path: p, type: 'file', size: files[0].size, hash: files[0].hash }];
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
  const files = filesOf(store, commit.seq);
  const byPath = new Map(files.map((f) => [f.path, f]));
  return globPaths(
    files.map((f) => f.path),
    pattern,
  ).map((m) => {
    if (!m.dir) {
      const f = byPath.get(m.path)!;
      return { path: m.path, type: 'file' as const, size: f.size, hash: f.hash };
    }
    const prefix = m.path === '/' ? '/' : m.path + '/';
    let size = 0;
    for (const f of files) if (f.path.startsWith(prefix)) size += f.size;
    return { path: m.path, type: 'dir' as const, size };
  });
}

/**
 * Writes a file to `out` (a local path) or to stdout; a folder (with `recursive`) to the folder `out`.
 * Returns how many files were written.
 */
export async function getFile(store: Store, commit: CommitRow, path: string, out: string | undefined, recursive: boolean): Promise<number> {
  const p = normalizePath(path);
  const files = filesUnder(store, commit.seq, p);
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
 * Makes one commit on `repo@branch` holding exactly `files` (a job's output), inside the caller's transaction
 * or its own. Paths must already be normalized and form a tree.
 */
export function commitFiles(
  store: Store,
  repo: string,
  branch: string,
  files: FileRow[],
  opts: CommitOptions = {},
): CommitRow {
  return store.tx(() => {
    const db = store.db;
    mustRepo(store, repo);
    if (!branchExists(store, repo, branch)) db.prepare(`INSERT INTO branches (repo, name, head) VALUES (?, ?, NULL)`).run(repo, branch);
    return insertCommit(store, repo, branch, headOf(store, repo, branch), files, { origin: 'job', ...opts });
  });
}

type CommitOptions = { origin?: 'user' | 'job'; job?: string; id?: string; description?: string; provenance?: { repo: string; branch: string; commit: string }[] };

/** The commit row, its files, its provenance and the branch head: one commit, inside the caller's transaction. */
function insertCommit(store: Store, repo: string, branch: string, parent: CommitRow | undefined, files: FileRow[], opts: CommitOptions): CommitRow {
  const db = store.db;
  const id = opts.id ?? newId();
  let size = 0;
  for (const f of files) size += f.size;
  const info = db
    .prepare(
      `INSERT INTO commits (id, repo, branch, parent, created, origin, job, description, n_files, size_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(id, repo, branch, parent?.id ?? null, now(), opts.origin ?? 'user', opts.job ?? null, opts.description ?? '', files.length, size);
  const seq = Number(info.lastInsertRowid);
  const ins = db.prepare(`INSERT INTO commit_files (commit_seq, path, hash, size) VALUES (?, ?, ?, ?)`);
  for (const f of files) ins.run(seq, f.path, f.hash, f.size);
  const prov = db.prepare(`INSERT INTO provenance (commit_id, repo, branch, source) VALUES (?, ?, ?, ?)`);
  for (const p of opts.provenance ?? []) prov.run(id, p.repo, p.branch, p.commit);
  db.prepare(`UPDATE branches SET head = ? WHERE repo = ? AND name = ?`).run(id, repo, branch);
  return commitById(store, id)!;
}
