/**
 * A datum's file system: its inputs mounted under a scratch PFS_ROOT and its outputs under out/ taken into the blob
 * store afterwards.
 *
 * - Ordinary inputs are hard links to the read-only blobs (a copy across file systems).
 * - `lazy: true` inputs are symlinks to the read-only blob paths: nothing is linked, copied or read up front beyond
 *   one symlink per file, and a stage reads only the bytes it opens (Pachyderm mounts a lazy input through FUSE
 *   instead of downloading it; a symlink is the local equivalent). Its blob is stat'ed after the datum for the
 *   read-only check like a hard link's.
 * - `emptyFiles: true` inputs are empty files of the same names.
 *
 * Outputs that are symlinks into an input mount are taken by the content hash already known for that input file,
 * without reading or hashing their bytes: Pachyderm 2.x copies such files by reference (worker `uploadOutput`, for
 * lazy and emptyFiles inputs), and so does the engine, for every input.
 */
import { copyFileSync, linkSync, lstatSync, mkdirSync, realpathSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { type Datum } from './datums.js';
import { walkLocal, type FileRow } from './pfs.js';
import { Store } from './store/store.js';

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
  const names = damaged.slice(0, 5).map((d) => d.mounted).join(', ');
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
}

/** Mounts the datum's inputs under `scratch`. */
export function materialize(store: Store, datum: Datum, scratch: string): Mount {
  const linked: LinkedInput[] = [];
  const known = new Map<string, KnownFile>();
  mkdirSync(join(scratch, 'out'), { recursive: true });
  const scratchReal = realpathSync(scratch);
  const made = new Set<string>();
  let canLink = true;
  for (const input of datum.inputs) {
    const base = join(scratch, input.name);
    if (!made.has(base)) {
      mkdirSync(base, { recursive: true });
      made.add(base);
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
      const src = store.blobs.pathOf(f.hash);
      if (input.lazy) {
        symlinkSync(src, dest);
        const st = statSync(src);
        linked.push({ mounted: `${input.name}${f.path}`, blob: src, mtimeMs: st.mtimeMs, size: st.size });
        continue;
      }
      if (canLink) {
        try {
          linkSync(src, dest);
          const st = statSync(src);
          linked.push({ mounted: `${input.name}${f.path}`, blob: src, mtimeMs: st.mtimeMs, size: st.size });
          known.set(join(scratchReal, input.name, f.path), { hash: f.hash, size: st.size, dev: st.dev, ino: st.ino, mtimeMs: st.mtimeMs });
          continue;
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw e;
          canLink = false;
        }
      }
      copyFileSync(src, dest);
      const st = statSync(dest);
      known.set(join(scratchReal, input.name, f.path), { hash: f.hash, size: st.size, dev: st.dev, ino: st.ino, mtimeMs: st.mtimeMs });
    }
  }
  return { linked, known };
}

/**
 * The content hash of an output file that is (or lies under) a symlink into the datum's inputs, without reading it:
 * a blob path names its hash; a hard-linked or copied input is known by path and checked by inode, size and mtime
 * (a file the datum replaced in its input folder is not the input any more, and is hashed as any output).
 */
function byReference(blobsReal: string, file: string, known: Map<string, KnownFile> | undefined): { hash: string; size: number } | undefined {
  let real: string;
  try {
    real = realpathSync(file);
  } catch {
    return undefined;
  }
  if (real === file) return undefined;
  if (real.startsWith(blobsReal + sep)) {
    const hash = basename(real);
    // a blob is `<blobs>/<h0h1>/<sha256>`: its path names its content
    if (/^[0-9a-f]{64}$/.test(hash) && real === join(blobsReal, hash.slice(0, 2), hash)) return { hash, size: statSync(real).size };
    return undefined;
  }
  const k = known?.get(real);
  if (!k) return undefined;
  const st = statSync(real);
  if (st.dev !== k.dev || st.ino !== k.ino || st.size !== k.size || st.mtimeMs !== k.mtimeMs) return undefined;
  return { hash: k.hash, size: k.size };
}

/**
 * Takes every file under a datum's out/ into the blob store: a symlink into an input mount by the hash already
 * known for it (no byte read), anything else by hashing it (adopted without a copy when it is a plain file).
 */
export async function ingest(store: Store, out: string, known: Mount['known']): Promise<FileRow[]> {
  const blobsReal = realpathSync(store.blobs.dir);
  const files: FileRow[] = [];
  for (const f of walkLocal(out)) {
    const ref = byReference(blobsReal, f, known) ?? (await store.blobs.adoptFile(f));
    files.push({ path: '/' + relative(out, f).split('\\').join('/'), ...ref });
  }
  return files;
}
