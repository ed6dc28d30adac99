/**
 * A datum's scratch root (its PFS_ROOT): removed in the background after a one-shot datum (awaited before the job
 * ends), emptied between the datums of a batching process, removed also where the datum made folders read-only.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';

/** Scratch folders being removed in the background (awaited before the job ends). */
const removals = new Set<Promise<void>>();

/** Resolves when every scratch folder being removed in the background is gone. */
export async function scratchRemovals(): Promise<void> {
  await Promise.all([...removals]);
}

export function rmScratch(dir: string): void {
  const p: Promise<void> = rm(dir, { recursive: true, force: true })
    .catch(() => rmScratchSync(dir))
    .finally(() => removals.delete(p));
  removals.add(p);
}

function rmScratchSync(dir: string): void {
  try {
    removeTree(dir);
  } catch {
    /* left for cleanScratch */
  }
}

/** Removes a datum's folder, also where the datum made folders read-only (made writable and tried again). */
export function removeTree(p: string): void {
  try {
    rmSync(p, { recursive: true, force: true });
  } catch {
    execFileSync('chmod', ['-R', 'u+w', p], { stdio: 'ignore' });
    rmSync(p, { recursive: true, force: true });
  }
}

/** Empties a datum root for the next datum: out/ is emptied (kept: it may be a mount), all else but `.child` goes. */
export function clearDatumRoot(root: string): void {
  for (const name of readdirSync(root)) {
    if (name === '.child') continue;
    const p = join(root, name);
    if (name === 'out') for (const o of readdirSync(p)) removeTree(join(p, o));
    else removeTree(p);
  }
}
