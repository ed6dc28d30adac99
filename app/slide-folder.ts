/**
 * A folder of slides as a repo's files: which slide each file or folder is (its slide_id) and where it goes
 * (/<slide_id>/<file>), the layout the tile-detect pipeline globs (`/*`: one datum per slide).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { followLink, type WalkOptions } from '../engine/pfs/local-tree.js';
import { expandPutItems } from '../engine/pfs/put-files.js';
import { normalizePath } from '../engine/pfs/names.js';
import { StoreError } from '../engine/store/store.js';
import { SLIDES_REPO } from './spec-folder.js';

const DOUBLE_EXT = /\.(ome\.tiff?|nii\.gz|tar\.gz)$/i;

/** slide_id of a file: its name without extension (`a.ome.tiff` -> `a`). */
export function slideIdOfFile(fileName: string): string {
  const m = DOUBLE_EXT.exec(fileName);
  if (m) return fileName.slice(0, m.index);
  const ext = extname(fileName);
  return ext && ext !== fileName ? fileName.slice(0, -ext.length) : fileName;
}

/**
 * The files of a folder of slides as /<slide_id>/<file>: a file is one slide; a folder is one slide (all its
 * files under /<folder>/); a folder beside a file of the same stem (MIRAX: a.mrxs + a/) goes with that file,
 * as /<id>/<folder>/..., where OpenSlide expects it.
 */
export function slideItems(
  dir: string,
  walk: Pick<WalkOptions, 'followLinks'> = {},
): { files: { local: string; path: string }[]; slides: number } {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new StoreError(`${dir} is not a folder`);
  const entries = readdirSync(dir, { withFileTypes: true }).filter((e) => !e.name.startsWith('.'));
  const fileStems = new Map<string, string>();
  for (const e of entries) {
    if (e.isDirectory()) continue;
    const id = slideIdOfFile(e.name);
    const before = fileStems.get(id);
    if (before) throw new StoreError(`${join(dir, before)} and ${join(dir, e.name)} would both be slide ${id}`);
    fileStems.set(id, e.name);
  }
  const items: { local: string; dest: string }[] = [];
  const ids = new Set(fileStems.keys());
  for (const e of entries) {
    const local = join(dir, e.name);
    const isDir = e.isDirectory() || (e.isSymbolicLink() && statSync(followLink(local, dir, walk)).isDirectory());
    if (isDir) {
      if (fileStems.has(e.name)) items.push({ local, dest: `/${e.name}/${e.name}` });
      else {
        ids.add(e.name);
        items.push({ local, dest: `/${e.name}` });
      }
    } else items.push({ local, dest: `/${slideIdOfFile(e.name)}/${e.name}` });
  }
  // every slide_id must be a valid path segment
  for (const id of ids) normalizePath('/' + id);
  return { files: expandPutItems(items, true, { ...walk, root: dir }), slides: ids.size };
}

/**
 * One line per empty (0-byte) file among slide files: an interrupted copy or download leaves one, and it would
 * otherwise be committed and reported much later as an unsupported image format.
 */
export function emptySlideFiles(files: readonly { local: string; path: string }[]): string[] {
  return files
    .filter((f) => statSync(f.local).size === 0)
    .map((f) => `${f.local} (for ${f.path}): an empty file (0 bytes) is no slide; copy the slide again`);
}

/** The put check for the slides repo: `put file` refuses an empty slide as `add slides` does. */
export function refuseEmptySlides(repo: string, files: readonly { local: string; path: string }[]): string[] {
  return repo === SLIDES_REPO ? emptySlideFiles(files) : [];
}
