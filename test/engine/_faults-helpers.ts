/** Helpers of the fault tests: what the store holds (to assert nothing stored changed), a small tmpfs. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { filesOf, headOf } from '../../engine/pfs/commits.js';
import { listRepos } from '../../engine/pfs/repos.js';
import { Store } from '../../engine/store/store.js';

/** repo -> path -> hash of every repo's master head. */
export function heads(home: string): Record<string, Record<string, string>> {
  const s = Store.open(home);
  try {
    const out: Record<string, Record<string, string>> = {};
    for (const r of listRepos(s)) {
      const c = headOf(s, r.name, 'master');
      out[r.name] = c ? Object.fromEntries(filesOf(s, c.seq).map((f) => [f.path, f.hash])) : {};
    }
    return out;
  } finally {
    s.close();
  }
}

/**
 * Every blob the metadata refers to holds the content its name says (a datum writing through a hard link would
 * break this for every commit holding the file), and SQLite is whole.
 */
export function assertStoreWhole(home: string): void {
  const s = Store.open(home);
  try {
    const rows = s.db
      .prepare(`SELECT DISTINCT hash, size FROM commit_files UNION SELECT DISTINCT hash, size FROM datum_files`)
      .all() as { hash: string; size: number }[];
    for (const r of rows) {
      const buf = readFileSync(s.blobs.pathOf(r.hash));
      assert.equal(buf.length, r.size, `blob ${r.hash} has its size`);
      assert.equal(createHash('sha256').update(buf).digest('hex'), r.hash, `blob ${r.hash} has its content`);
    }
    assert.equal(s.db.pragma('integrity_check', { simple: true }), 'ok');
  } finally {
    s.close();
  }
}

/** sha256 of every blob file, by name: a stored byte changing shows here. */
export function blobDigests(home: string): Record<string, string> {
  const dir = join(home, 'blobs');
  const out: Record<string, string> = {};
  for (const sub of readdirSync(dir)) {
    for (const name of readdirSync(join(dir, sub)))
      out[name] = createHash('sha256')
        .update(readFileSync(join(dir, sub, name)))
        .digest('hex');
  }
  return out;
}

/** Mounts a tmpfs of `size` (e.g. '24m') at `dir`; the reason it cannot when it cannot (not root, a container). */
export function mountTmpfs(dir: string, size: string): { unmount: () => void } | { skip: string } {
  mkdirSync(dir, { recursive: true });
  if (process.getuid?.() !== 0) return { skip: 'mounting a tmpfs needs root' };
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0)
    return { skip: `mount -t tmpfs was refused here: ${(r.stderr || r.error?.message || '').trim()}` };
  return { unmount: () => void spawnSync('umount', ['-l', dir]) };
}
