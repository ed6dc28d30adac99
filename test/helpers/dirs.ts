/** Where the project and ../shared (fixtures, beside the checkout) are, and temp folders for tests. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const sharedDir = resolve(projectRoot, '../shared');

/** A fresh folder under the OS temp dir; cleanup removes it even where a test made files read-only. */
export function tempDir(name = 'test'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `tessella-${name}-`));
  return {
    dir,
    cleanup: () => {
      spawnSync('chmod', ['-R', 'u+w', dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
