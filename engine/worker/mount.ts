/**
 * A datum's file system: its inputs mounted under a scratch PFS_ROOT and its outputs under out/ taken into the blob
 * store afterwards.
 *
 * - Ordinary inputs are hard links to the read-only blobs (a copy across file systems), or private copies (a
 *   reflink where the file system can) when the datum cannot be given a read-only view of the store
 *   (sandbox.ts).
 * - `lazy: true` inputs are symlinks to the read-only blob paths: nothing is linked, copied or read up front beyond
 *   one symlink per file, and a stage reads only the bytes it opens (Pachyderm mounts a lazy input through FUSE
 *   instead of downloading it; a symlink is the local equivalent). Its blob is stat'ed after the datum for the
 *   read-only check like a hard link's.
 * - `emptyFiles: true` inputs are empty files of the same names.
 *
 * Outputs that are symlinks into an input mount are taken by the content hash already known for that input file,
 * without reading or hashing their bytes (a link straight to a mounted file, where the datum sees its inputs
 * read-only, with one readlink): Pachyderm 2.x copies such files by reference (worker `uploadOutput`, for
 * lazy and emptyFiles inputs), and so does the engine, for every input. Any other symlink (to /etc/passwd, to
 * another output, dangling) fails the datum naming it: an output is what the datum wrote or one of its inputs.
 */
import {
  constants,
  copyFileSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import type { Datum } from '../pps/datums.js';
import type { FileRow } from '../store/files.js';
import type { Store } from '../store/store.js';

/** A stored file hard-linked into a datum's inputs, as it was before the datum ran. */
export interface LinkedInput {
  /** `<input name><path in repo>`, as the datum saw it under $PFS_ROOT. */
  mounted: string;
  blob: string;
  mtimeMs: number;
  size: number;
}

/**
 * Inputs are hard links to the store's read-only files: a datum running as root can still write through them, and
 * would change the stored copy for every commit that holds it. Pachyderm mounts inputs read-only; here the damage
 * is detected after the datum (a stat per input) and the datum fails naming the files.
 */
export function changedInputs(linked: LinkedInput[]): LinkedInput[] {
  return linked.filter((l) => {
    const st = statSync(l.blob, { throwIfNoEntry: false });
    return !st || st.mtimeMs !== l.mtimeMs || st.size !== l.size;
  });
}

export function inputsWrittenError(damaged: LinkedInput[]): string {
  const names = damaged
    .slice(0, 5)
    .map((d) => d.mounted)
    .join(', ');
  const more = damaged.length > 5 ? ` and ${damaged.length - 5} more` : '';
  return (
    `the datum wrote into its input ${names}${more}: inputs are read-only (write outputs under $PFS_ROOT/out). ` +
    `The stored copy of ${damaged.length === 1 ? 'that file' : 'those files'} changed: put ${damaged.length === 1 ? 'it' : 'them'} again to repair the store`
  );
}

/** A mounted input file whose content hash is known: a hard link (or copy) in a datum's scratch, by inode. */
interface KnownFile {
  hash: string;
  size: number;
  dev: number;
  ino: number;
  mtimeMs: number;
}

/** A datum's mounted inputs: the linked ones, to check after the run, and the hashes `ingest` can take by reference. */
export interface Mount {
  linked: LinkedInput[];
  /** real path of each hard-linked or copied input file -> its hash (lazy ones are blob paths, named by hash) */
  known: Map<string, KnownFile>;
  /** real paths of the input folders (`<scratch>/<input name>`): where an output symlink may point */
  roots: string[];
  /** real blob paths of the lazy inputs -> their hashes */
  lazy: Map<string, string>;
  /**
   * Where the datum cannot change its inputs (a read-only view of the store, not private copies): each mounted input
   * file, by the paths it has under $PFS_ROOT (as given and real) -> its hash and size. An output symlink whose
   * target is one of them is taken with one readlink, without resolving or stat'ing the chain.
   */
  byPath?: Map<string, { hash: string; size: number }>;
}

/**
 * Mounts the datum's inputs under `scratch`. `privateCopies`: copy (reflink where possible) instead of hard-linking,
 * lazy inputs included, for a datum that could otherwise write through to the blobs.
 */
export function materialize(store: Store, datum: Datum, scratch: string, privateCopies = false): Mount {
  const linked: LinkedInput[] = [];
  const known = new Map<string, KnownFile>();
  const lazy = new Map<string, string>();
  const roots: string[] = [];
  mkdirSync(join(scratch, 'out'), { recursive: true });
  const scratchReal = realpathSync(scratch);
  const blobsReal = realpathSync(store.blobs.dir);
  const made = new Set<string>();
  const byPath = privateCopies ? undefined : new Map<string, { hash: string; size: number }>();
  let canLink = !privateCopies;
  for (const input of datum.inputs) {
    const base = join(scratch, input.name);
    if (!made.has(base)) {
      mkdirSync(base, { recursive: true });
      made.add(base);
      roots.push(join(scratchReal, input.name));
    }
    for (const f of input.files) {
      const dest = join(base, f.path);
      const dir = dirname(dest);
      if (!made.has(dir)) {
        mkdirSync(dir, { recursive: true });
        made.add(dir);
      }
      if (lstatSync(dest, { throwIfNoEntry: false })) continue; // the same file mounted twice (a group of one repo)
      if (input.emptyFiles) {
        writeFileSync(dest, '');
        continue;
      }
      if (byPath) {
        const ref = { hash: f.hash, size: f.size };
        byPath.set(dest, ref);
        byPath.set(join(scratchReal, input.name, f.path), ref);
      }
      const src = store.blobs.pathOf(f.hash);
      if (input.lazy && !privateCopies) {
        symlinkSync(src, dest);
        lazy.set(join(blobsReal, f.hash.slice(0, 2), f.hash), f.hash);
        const st = statSync(src);
        linked.push({ mounted: `${input.name}${f.path}`, blob: src, mtimeMs: st.mtimeMs, size: st.size });
        continue;
      }
      if (canLink) {
        try {
          linkSync(src, dest);
          const st = statSync(src);
          linked.push({ mounted: `${input.name}${f.path}`, blob: src, mtimeMs: st.mtimeMs, size: st.size });
          known.set(join(scratchReal, input.name, f.path), {
            hash: f.hash,
            size: st.size,
            dev: st.dev,
            ino: st.ino,
            mtimeMs: st.mtimeMs,
          });
          continue;
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw e;
          canLink = false;
        }
      }
      copyFileSync(src, dest, constants.COPYFILE_FICLONE);
      const st = statSync(dest);
      known.set(join(scratchReal, input.name, f.path), {
        hash: f.hash,
        size: st.size,
        dev: st.dev,
        ino: st.ino,
        mtimeMs: st.mtimeMs,
      });
    }
  }
  return { linked, known, roots, lazy, byPath };
}

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
  await visit(out, false);
  return files;
}
