/**
 * The slide file in a slide folder (`/<slide_id>/<file>` in the slides repo). A folder may also hold
 * companions (MIRAX's data folder, notes, a manifest row), so the file is picked by extension.
 */
import { readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { SlideOpenError } from './types.js';

/** Whole-slide formats first (OpenSlide's), then the generic images libvips reads. */
const SLIDE_EXTENSIONS = [
  ['.svs', '.ndpi', '.mrxs', '.scn', '.vms', '.vmu', '.bif', '.svslide', '.isyntax', '.czi'],
  ['.tif', '.tiff', '.btf'],
  ['.jpg', '.jpeg', '.png', '.webp', '.jp2'],
];

function priorityOf(name: string): number {
  const ext = extname(name).toLowerCase();
  const p = SLIDE_EXTENSIONS.findIndex((group) => group.includes(ext));
  return p < 0 ? Infinity : p;
}

/** The path of the one slide file directly in `dir`; throws SlideOpenError when there is none or it is ambiguous. */
export function findSlideFile(dir: string): string {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => !n.startsWith('.') && statSync(join(dir, n)).isFile());
  } catch (err) {
    throw new SlideOpenError(dir, `cannot list the slide folder: ${(err as Error).message}`);
  }
  const ranked = names.map((n) => ({ n, p: priorityOf(n) })).filter((x) => x.p !== Infinity);
  if (ranked.length === 0) {
    throw new SlideOpenError(
      dir,
      `no slide file in the folder (found: ${names.join(', ') || 'nothing'}); expected one of ${SLIDE_EXTENSIONS.flat().join(' ')}`,
    );
  }
  // Whole-slide formats and TIFFs are slides in their own right (a.svs beside b.tiff is two slides, not a slide and a
  // companion); plain images count only when there is neither (VMS and others keep JPEG companions beside the slide).
  const best = Math.min(...ranked.map((x) => x.p));
  const top = ranked
    .filter((x) => (best <= 1 ? x.p <= 1 : x.p === best))
    .map((x) => x.n)
    .sort();
  if (top.length > 1)
    throw new SlideOpenError(
      dir,
      `more than one slide file in the folder: ${top.join(', ')}; keep one slide per folder`,
    );
  return join(dir, top[0]);
}
