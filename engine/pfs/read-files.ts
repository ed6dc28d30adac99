/** Reading a commit's files as pachctl does: `list file` (one level), `glob file`, `get file` (a file or a folder). */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { lowerBound } from '../pps/datums.js';
import type { CommitRow } from '../store/commit-rows.js';
import { treeFiles, treeFilesAt } from '../store/files.js';
import { type Store, StoreError } from '../store/store.js';
import { copyVerified, streamVerified } from '../store/verified-read.js';
import { treeOf } from './commits.js';
import { globPaths } from './glob.js';
import { normalizePath } from './names.js';

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
 * Writes a file to `out` (a local path) or to stdout; a folder (with `recursive`) to the folder `out`. Every byte
 * is checked against its hash as it is copied (verified-read.ts). Returns how many files were written.
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
    const name = `${commit.repo}@${commit.id}:${p}`;
    if (out) {
      mkdirSync(dirname(out), { recursive: true });
      await copyVerified(store.blobs.pathOf(files[0].hash), files[0], out, name);
    } else {
      await streamVerified(store.blobs.pathOf(files[0].hash), files[0], process.stdout, name);
    }
    return 1;
  }
  if (!recursive) throw new StoreError(`${commit.repo}@${commit.id}:${p} is a folder: use -r with -o LOCAL_FOLDER`);
  if (!out) throw new StoreError(`getting a folder needs -o LOCAL_FOLDER`);
  const prefix = p === '/' ? '/' : p + '/';
  for (const f of files) {
    const dest = join(out, f.path.slice(prefix.length));
    mkdirSync(dirname(dest), { recursive: true });
    await copyVerified(store.blobs.pathOf(f.hash), f, dest, `${commit.repo}@${commit.id}:${f.path}`);
  }
  return files.length;
}
