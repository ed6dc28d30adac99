/**
 * A stage's start-up check that it can write its outputs: `$PFS_ROOT/out` (or, when it does not exist yet, the
 * folder it would be made in) must be a folder this process may create files in. Without it a stage that runs
 * as a user who does not own /pfs/out fails deep inside its work (`EACCES: mkdir '/pfs/out/<slide>/qc'`) with no
 * hint of the cause; with it the datum fails at once, saying what to set.
 *
 * On Pachyderm the worker makes /pfs/out itself, owned by the uid it runs as, so this only fires for a deployment
 * that runs the image's user against a folder someone else made (a root-owned volume, `docker run -v`).
 */
import { accessSync, constants, statSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';

export class PfsOutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PfsOutError';
  }
}

/** The uid and gid this process runs as (undefined where the platform has none). */
function whoAmI(): { uid?: number; gid?: number } {
  return { uid: process.getuid?.(), gid: process.getgid?.() };
}

function describe(st: Stats): string {
  return `owned by uid ${st.uid} gid ${st.gid}, mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}`;
}

/** The nearest existing folder at or above `path` (the one `mkdir -p` would write into). */
function nearestExisting(path: string): { path: string; stat: Stats } {
  let p = path;
  for (;;) {
    let st: Stats | undefined;
    try {
      st = statSync(p, { throwIfNoEntry: false });
    } catch (e) {
      const { uid } = whoAmI();
      throw new PfsOutError(
        `${p} cannot be reached by ${uid === undefined ? 'this user' : `uid ${uid}`} ` +
          `(${(e as NodeJS.ErrnoException).code}: a folder above it is not searchable). ${advice(uid)}`,
      );
    }
    if (st) return { path: p, stat: st };
    const up = dirname(p);
    if (up === p) throw new PfsOutError(`${path}: no part of this path exists`);
    p = up;
  }
}

function advice(uid: number | undefined): string {
  const me = uid === undefined ? 'this user' : `uid ${uid}`;
  return (
    `On Pachyderm set transform.user: "${uid ?? 1000}" in the pipeline spec (the worker then runs as ${me}, ` +
    `owns /pfs/out and gives the pod's volumes to its group; see the README, "The user container"). ` +
    `Running the image yourself, mount an output folder owned by ${me} (chown ${uid ?? 1000} DIR) ` +
    `or run the container with --user set to the folder's owner.`
  );
}

/**
 * Throws a PfsOutError naming the folder, its owner and mode, this process's uid and gid and what to set, unless
 * `outDir` (or the folder it would be created in) is a directory this process can create files in.
 */
export function assertOutputWritable(outDir: string): void {
  const { uid, gid } = whoAmI();
  const whoami = uid === undefined ? 'this process' : `uid ${uid} gid ${gid}`;
  const { path, stat } = nearestExisting(outDir);
  if (!stat.isDirectory()) {
    throw new PfsOutError(`${path} is not a folder (${describe(stat)}): the stage writes its outputs under ${outDir}`);
  }
  try {
    // W_OK and X_OK, as the kernel decides them for this process (owner, group, ACLs, read-only mounts).
    accessSync(path, constants.W_OK | constants.X_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EROFS') {
      throw new PfsOutError(`${path} is on a read-only file system: the stage writes its outputs under ${outDir}`);
    }
    const where = path === outDir ? outDir : `${path} (where ${outDir} would be made)`;
    throw new PfsOutError(`${where} is not writable by ${whoami}: it is ${describe(stat)}. ${advice(uid)}`);
  }
}
