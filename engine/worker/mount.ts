/**
 * A datum's file system: its inputs mounted under a scratch PFS_ROOT (its outputs are taken from out/ by
 * outputs.ts).
 *
 * - Ordinary inputs are hard links to the read-only blobs (a copy across file systems), or private copies (a
 *   reflink where the file system can) when the datum cannot be given a read-only view of the store
 *   (sandbox.ts).
 * - `lazy: true` inputs are symlinks to the read-only blob paths: nothing is linked, copied or read up front beyond
 *   one symlink per file, and a stage reads only the bytes it opens (Pachyderm mounts a lazy input through FUSE
 *   instead of downloading it; a symlink is the local equivalent). Its blob is stat'ed after the datum for the
 *   read-only check like a hard link's.
 * - `emptyFiles: true` inputs are empty files of the same names.
 */
import {
  constants,
  copyFileSync,
  linkSync,
  lstatSync,
  mkdirSync,
  realpathSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { engineEnv } from '../env.js';
import type { Datum } from '../pps/datums.js';
import type { BlobRef } from '../store/blobs.js';
import type { Store } from '../store/store.js';
import { copyHashingSync, hashFileSync, inputMismatch } from '../store/verified-read.js';

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
 * A mounted input's stat, refusing a stored copy whose size is not the one recorded (free: the stat is needed
 * anyway) and, with `hash` (TESSELLA_VERIFY_MOUNTS), whose bytes do not match their hash.
 */
function checkedStat(path: string, mounted: string, want: BlobRef, hash: boolean) {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) throw inputMismatch(mounted, path, want, { hash: '', size: -1 });
  if (st.size !== want.size) throw inputMismatch(mounted, path, want, { hash: '', size: st.size });
  if (hash) {
    const got = hashFileSync(path);
    if (got.hash !== want.hash) throw inputMismatch(mounted, path, want, got);
  }
  return st;
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
  const verify = engineEnv().TESSELLA_VERIFY_MOUNTS;
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
      const mounted = `${input.name}${f.path}`;
      if (input.lazy && !privateCopies) {
        symlinkSync(src, dest);
        lazy.set(join(blobsReal, f.hash.slice(0, 2), f.hash), f.hash);
        const st = checkedStat(src, mounted, f, false); // lazy: read in part by the stage, so never hashed here
        linked.push({ mounted, blob: src, mtimeMs: st.mtimeMs, size: st.size });
        continue;
      }
      if (canLink) {
        try {
          const st = checkedStat(src, mounted, f, verify);
          linkSync(src, dest);
          linked.push({ mounted, blob: src, mtimeMs: st.mtimeMs, size: st.size });
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
      if (verify) {
        const got = copyHashingSync(src, dest);
        if (got.hash !== f.hash) throw inputMismatch(mounted, src, f, got);
      } else copyFileSync(src, dest, constants.COPYFILE_FICLONE);
      const st = checkedStat(dest, mounted, f, false);
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
