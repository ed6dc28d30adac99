/**
 * A datum's outputs: every file under its out/ taken into the blob store after it succeeded.
 *
 * Outputs that are symlinks into an input mount are taken by the content hash already known for that input file,
 * without reading or hashing their bytes (a link straight to a mounted file, where the datum sees its inputs
 * read-only, with one readlink): Pachyderm 2.x copies such files by reference (worker `uploadOutput`, for
 * lazy and emptyFiles inputs), and so does the engine, for every input. Any other symlink (to /etc/passwd, to
 * another output, dangling) fails the datum naming it: an output is what the datum wrote or one of its inputs.
 */
import { lstatSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { FileRow } from '../store/files.js';
import type { Store } from '../store/store.js';
import type { Mount } from './mount.js';

/** An output the engine refuses (a symlink leaving the inputs): the datum fails with this message, not retried. */
export class OutputError extends Error {}

/**
 * The content hash of an output whose real path is an input file, without reading it: a lazy input's blob by its
 * name; a hard-linked or copied input by path, checked by inode, size and mtime (a file the datum replaced in its
 * input folder is not the input any more, and is hashed as any output).
 */
function byReference(real: string, mount: Mount): { hash: string; size: number } | undefined {
  const blob = mount.lazy.get(real);
  if (blob) return { hash: blob, size: statSync(real).size };
  const k = mount.known.get(real);
  if (!k) return undefined;
  const st = statSync(real);
  if (st.dev !== k.dev || st.ino !== k.ino || st.size !== k.size || st.mtimeMs !== k.mtimeMs) return undefined;
  return { hash: k.hash, size: k.size };
}

function insideInputs(real: string, mount: Mount): boolean {
  return mount.lazy.has(real) || mount.roots.some((r) => real === r || real.startsWith(r + sep));
}

/**
 * Takes every file under a datum's out/ into the blob store: a plain file by hashing it (adopted without a copy);
 * a symlink into the datum's inputs (or a folder of them) by the hash already known, else by reading the input;
 * any other symlink throws an OutputError naming it.
 */
export async function ingest(store: Store, out: string, mount: Mount): Promise<FileRow[]> {
  const files: FileRow[] = [];
  const add = (path: string, ref: { hash: string; size: number }) =>
    files.push({ path: '/' + relative(out, path).split(sep).join('/'), ...ref });
  const linkError = (p: string, why: string) => {
    let target = '?';
    try {
      target = readlinkSync(p);
    } catch {
      /* raced away */
    }
    return new OutputError(
      `output ${'/' + relative(out, p).split(sep).join('/')} is a symlink to ${target}, ${why}: only links into the datum's ` +
        `own inputs are kept (taken by reference); write the file itself under $PFS_ROOT/out`,
    );
  };
  const visit = async (dir: string, throughLink: boolean) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(dir, e.name);
      if (e.isSymbolicLink() && !throughLink && mount.byPath) {
        // a link straight to a mounted input file: by reference, one readlink (a folder's links are resolved below)
        const ref = mount.byPath.get(readlinkSync(p));
        if (ref) {
          add(p, ref);
          continue;
        }
      }
      if (e.isSymbolicLink() || throughLink) {
        let real: string;
        try {
          real = realpathSync(p);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          throw linkError(p, code === 'ELOOP' ? 'a loop of links' : 'which does not exist');
        }
        if (!insideInputs(real, mount)) {
          if (e.isSymbolicLink() || !throughLink) throw linkError(p, `which is outside the datum's inputs (${real})`);
          throw new OutputError(
            `output ${'/' + relative(out, p).split(sep).join('/')} leads outside the datum's inputs (${real})`,
          );
        }
        const st = statSync(real);
        if (st.isDirectory()) await visit(p, true);
        else if (st.isFile()) add(p, byReference(real, mount) ?? (await store.blobs.putFile(real)));
        continue;
      }
      if (e.isDirectory()) await visit(p, false);
      else if (e.isFile()) add(p, await store.blobs.adoptFile(p));
    }
  };
  // before any output is taken (adopted files leave out/): a link between outputs, with whether its target exists
  refuseLinksBetweenOutputs(out, out, linkError);
  await visit(out, false);
  return files;
}

/** Throws for the first symlink under `dir` whose target is under out/ too, saying what it points to. */
function refuseLinksBetweenOutputs(dir: string, out: string, linkError: (p: string, why: string) => Error): void {
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) refuseLinksBetweenOutputs(p, out, linkError);
    if (!e.isSymbolicLink()) continue;
    const sibling = siblingOutput(p, out);
    if (sibling === undefined) continue;
    const exists = lstatSync(join(out, sibling), { throwIfNoEntry: false }) !== undefined;
    throw linkError(
      p,
      `which is ${exists ? 'another output of the datum' : 'a path under $PFS_ROOT/out that the datum did not write'} (${sibling}): links between outputs are not kept`,
    );
  }
}

/**
 * The output path ('/a/tiles.json') a symlink under out/ points to when its target is under out/ too: relative, by
 * its absolute scratch path, or as `/pfs/out/...` (what a stage in a Pachyderm container would write).
 */
function siblingOutput(link: string, out: string): string | undefined {
  let target: string;
  try {
    target = readlinkSync(link);
  } catch {
    return undefined;
  }
  const resolved = target.startsWith('/pfs/out/')
    ? join(out, target.slice('/pfs/out/'.length))
    : isAbsolute(target)
      ? target
      : resolve(dirname(link), target);
  for (const root of new Set([out, realOrSelf(out)])) {
    const rel = relative(root, resolved);
    if (rel !== '' && !rel.startsWith('..') && !isAbsolute(rel)) return '/' + rel.split(sep).join('/');
  }
  return undefined;
}

function realOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
