/**
 * Repos as plain folders, for running stages by the Pachyderm contract without a store: a folder's files as a
 * commit snapshot (the datums then come from the engine's own datum code), a datum's inputs laid out under a
 * PFS root, and a datum's outputs gathered into its pipeline's repo folder.
 */
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
} from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { Datum, Snapshot } from '../../engine/pps/datums.js';

/** Every file under `dir`, as `/a/b` paths, sorted (symlinks followed, as an upload would). */
export function walkFiles(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    const st = statSync(full);
    if (st.isDirectory()) out.push(...walkFiles(full, `${prefix}/${name}`));
    else if (st.isFile()) out.push(`${prefix}/${name}`);
  }
  return out;
}

/** The folder `repos/<repo>` as the head commit of its master branch. */
export function folderSnapshot(reposDir: string, repo: string): Snapshot {
  const dir = join(reposDir, repo);
  const files = statSync(dir, { throwIfNoEntry: false })?.isDirectory() ? walkFiles(dir) : [];
  return {
    repo,
    branch: 'master',
    commit: createHash('sha256').update(repo).digest('hex').slice(0, 32),
    files: files.map((path) => {
      const data = readFileSync(join(dir, path));
      return { path, hash: createHash('sha256').update(data).digest('hex'), size: data.length };
    }),
  };
}

/** Lays a datum's inputs out under `pfsRoot/<input name>/<path in repo>` (hard links to the repo files), and out/. */
export function layOutDatum(reposDir: string, datum: Datum, pfsRoot: string): void {
  mkdirSync(join(pfsRoot, 'out'), { recursive: true });
  for (const input of datum.inputs) {
    mkdirSync(join(pfsRoot, input.name), { recursive: true });
    for (const f of input.files) {
      const dest = join(pfsRoot, input.name, f.path);
      if (lstatSync(dest, { throwIfNoEntry: false })) continue;
      mkdirSync(dirname(dest), { recursive: true });
      const src = join(reposDir, input.repo, f.path);
      try {
        linkSync(src, dest);
      } catch {
        copyFileSync(src, dest);
      }
    }
  }
}

/**
 * Copies a datum's outputs into its pipeline's repo folder. A symlink into the datum's inputs is taken as the
 * content it points to, as Pachyderm's worker uploads it; any other symlink is an error.
 */
export function gatherOutputs(pfsRoot: string, repoDir: string): number {
  const out = join(pfsRoot, 'out');
  let n = 0;
  const visit = (rel: string): void => {
    const src = join(out, rel);
    const st = lstatSync(src);
    if (st.isDirectory()) {
      for (const name of readdirSync(src).sort()) visit(join(rel, name));
      return;
    }
    let from = src;
    if (st.isSymbolicLink()) {
      const target = readlinkSync(src);
      from = isAbsolute(target) ? target : resolve(dirname(src), target);
      const inside = relative(pfsRoot, from);
      if (inside.startsWith('..') || isAbsolute(inside)) {
        throw new Error(`${src}: a symlink to ${target}, outside the datum's inputs`);
      }
    }
    const dest = join(repoDir, rel);
    mkdirSync(dirname(dest), { recursive: true });
    copyFileSync(from, dest);
    n++;
  };
  if (statSync(out, { throwIfNoEntry: false })) visit('');
  return n;
}
