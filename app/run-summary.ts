/**
 * What `tessella run` says at its end about the cohort itself: manifest rows with no slide, slides with no row, and
 * the near misses between them (shared/manifest-match.ts), read from the heads of the manifest and slides repos,
 * so a row that names no slide is not silent. Nothing when every row has its slide and every slide its row.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { headOf } from '../engine/pfs/commits.js';
import { listFile } from '../engine/pfs/read-files.js';
import { getPipeline, specOf } from '../engine/pps/pipelines.js';
import type { Store } from '../engine/store/store.js';
import { describeManifestMatch, matchManifestToSlides } from '../shared/manifest-match.js';
import { parseCsv } from '../stages/cohort/manifest.js';
import { SLIDES_REPO } from './spec-folder.js';

const MANIFEST_REPO = 'manifest';
/** The pipeline whose transform.env names the manifest's file and image column (MANIFEST_FILE, IMAGE_COLUMN). */
const MANIFEST_READER = 'merge-assign';

/** The lines to print, or none when the ids all match or a repo, the file or its image column is not there. */
export function manifestMatchLines(store: Store): string[] {
  const slidesHead = headOf(store, SLIDES_REPO, 'master');
  const manifestHead = headOf(store, MANIFEST_REPO, 'master');
  if (!slidesHead || !manifestHead) return [];
  const reader = getPipeline(store, MANIFEST_READER);
  const env = (reader ? specOf(reader).transform.env : undefined) ?? {};
  const file = (env.MANIFEST_FILE ?? 'manifest.csv').replace(/^\/+/, '');
  const column = env.IMAGE_COLUMN ?? 'image_id';
  let text: string;
  let header: string[];
  let records: { cells: string[] }[];
  try {
    const [entry] = listFile(store, manifestHead, `/${file}`);
    if (entry?.type !== 'file' || !entry.hash) return [];
    text = readFileSync(store.blobs.pathOf(entry.hash), 'utf8');
    ({ header, records } = parseCsv(text, file));
  } catch {
    return []; // no such file, or not CSV: the run's manifest stages say so themselves
  }
  const at = header.indexOf(column);
  if (at < 0) return [];
  const rowIds = records.map((r) => (r.cells[at] ?? '').trim()).filter((id) => id !== '');
  const slideIds = listFile(store, slidesHead, '/').map((e) => basename(e.path));
  return describeManifestMatch(matchManifestToSlides(rowIds, slideIds));
}
