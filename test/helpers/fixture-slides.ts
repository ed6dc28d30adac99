/** Fixture slides laid out as `tessella add slides` / `put file slides@master:/ -r` takes them: one folder each. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sharedDir } from './dirs.js';

/** Copies each of `slides` (file names in ../shared/fixtures/slides) to `<dir>/<id>/<file>`; returns `dir`. */
export function fixtureSlideFolders(dir: string, slides: readonly string[]): string {
  for (const s of slides) {
    const id = s.split('.')[0];
    mkdirSync(join(dir, id), { recursive: true });
    writeFileSync(join(dir, id, s), readFileSync(join(sharedDir, 'fixtures/slides', s)));
  }
  return dir;
}
