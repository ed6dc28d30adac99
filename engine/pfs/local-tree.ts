/**
 * The files under a local folder that `put file -r` and `add slides` commit. A symlink is followed only while it
 * stays inside the folder being put (a link elsewhere would upload /etc/passwd, or walk into /etc); with
 * `followLinks` (`-L`) every link is followed. Dangling links and loops are named, never a raw ENOENT or ELOOP.
 */
import { readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import { StoreError } from '../store/store.js';

export interface WalkOptions {
  /** follow symlinks that leave the folder (`-L`, `--follow-links`) */
  followLinks?: boolean;
  /** the folder links must stay in (default: the one walked) */
  root?: string;
}

function within(real: string, root: string): boolean {
  return real === root || real.startsWith(root.endsWith(sep) ? root : root + sep);
}

function targetOf(p: string): string {
  try {
    return readlinkSync(p);
  } catch {
    return '?';
  }
}

/**
 * Where the symlink `p` leads (its real path), or a StoreError naming it: dangling, a loop, or outside `root`
 * without `followLinks`.
 */
export function followLink(p: string, root: string, opts: WalkOptions = {}): string {
  let real: string;
  try {
    real = realpathSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP')
      throw new StoreError(
        `${p} is a symlink in a loop of symlinks (to ${targetOf(p)}): remove it or point it at a file`,
      );
    throw new StoreError(`${p} is a symlink to ${targetOf(p)}, which does not exist: remove it or fix its target`);
  }
  if (!opts.followLinks && !within(real, root)) {
    throw new StoreError(
      `${p} is a symlink to ${targetOf(p)}, outside ${root}: not followed (put the folder with -L/--follow-links ` +
        `to put what links point to wherever it is)`,
    );
  }
  return real;
}

/** Every file under `dir` (recursive, hidden files included), sorted, with links followed as above. */
export function walkLocal(dir: string, opts: WalkOptions = {}): string[] {
  const root = realpathSync(opts.root ?? dir);
  const out: string[] = [];
  // real paths of the folders being walked: a link back to one of them is a loop
  const open = new Set<string>();
  const visit = (d: string, real: string) => {
    open.add(real);
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isSymbolicLink()) {
        const to = followLink(p, root, opts);
        const st = statSync(to);
        if (st.isDirectory()) {
          if (open.has(to))
            throw new StoreError(`${p} is a symlink to ${targetOf(p)}, a folder above it: a loop; remove the link`);
          visit(p, to);
        } else if (st.isFile()) out.push(p);
      } else if (e.isDirectory()) visit(p, join(real, e.name));
      else if (e.isFile()) out.push(p);
    }
    open.delete(real);
  };
  visit(dir, realpathSync(dir));
  return out;
}
