/**
 * A datum's file system: its inputs mounted under a scratch PFS_ROOT (hard links to the read-only blobs) and its
 * outputs under out/ taken into the blob store afterwards.
 */
import { copyFileSync, existsSync, linkSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
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

/** Mount the datum's inputs under `scratch`; returns the hard-linked ones, to check after the run. */
export function materialize(store: Store, datum: Datum, scratch: string): LinkedInput[] {
  const linked: LinkedInput[] = [];
  mkdirSync(join(scratch, 'out'), { recursive: true });
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
      if (existsSync(dest)) continue; // the same file mounted twice (a group of one repo)
      if (input.emptyFiles) {
        writeFileSync(dest, '');
        continue;
      }
      const src = store.blobs.pathOf(f.hash);
      if (canLink) {
        try {
          linkSync(src, dest);
          const st = statSync(src);
          linked.push({ mounted: `${input.name}${f.path}`, blob: src, mtimeMs: st.mtimeMs, size: st.size });
          continue;
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw e;
          canLink = false;
        }
      }
      copyFileSync(src, dest);
    }
  }
  return linked;
}

/** Takes every file under a datum's out/ into the blob store. */
export async function ingest(store: Store, out: string): Promise<FileRow[]> {
  const files: FileRow[] = [];
  for (const f of walkLocal(out)) {
    const ref = await store.blobs.adoptFile(f);
    files.push({ path: '/' + relative(out, f).split('\\').join('/'), ...ref });
  }
  return files;
}
