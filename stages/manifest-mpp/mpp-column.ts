/**
 * manifest-mpp: the manifest's resolution column as `/mpp/<slide>.json` files (schema: shared/contract/mpp-override.ts),
 * which tile-detect joins on. It reads the image id and mpp columns only, with merge's manifest code (the same CSV
 * parser, cell rules and wording), and is lenient about everything else: a label, a patient, a center, a split pin,
 * even a duplicate row is merge-assign's to refuse, and holds back merge only, never the per-slide stages.
 * It refuses only what decides a slide's resolution: no image id column, a bad resolution, a slide given two.
 * A manifest without the mpp column, or without rows, gives no files.
 */
import { join } from 'node:path';
import { mppOverrideFile, mppOverrideText, type MppOverride } from '../../shared/contract/index.js';
import { writeFileAtomic } from '../../shared/pfs.js';
import { cellWhere, locateColumns, ManifestError, MppCell, parseCsv, readManifestText } from '../cohort/manifest.js';
import type { ManifestMppConfig } from './config.js';

export interface MppColumnOptions {
  /** the manifest's name in its repo, as errors and each file's source name it */
  file: string;
  mapping: { image_id: string; mpp: string };
}

export interface MppColumn {
  /** false: the manifest has no such column (every slide keeps its own resolution) */
  column: boolean;
  /** one per slide that a row gives a resolution, in manifest order */
  overrides: { slide: string; override: MppOverride }[];
}

const describe = (mpp: number | undefined) => (mpp === undefined ? "none (the slide's own)" : String(mpp));

/** The slides' resolutions from the manifest's text; a ManifestError lists every problem at once. */
export function parseMppColumn(text: string, options: MppColumnOptions): MppColumn {
  const { file, mapping } = options;
  const { header, records } = parseCsv(text, file);
  const mine = new Set([mapping.image_id, mapping.mpp]);
  const { index, problems } = locateColumns(
    header,
    mapping,
    (field) => field === 'image_id',
    (name) => mine.has(name),
  );
  if (problems.length) throw new ManifestError(file, problems);
  if (index.mpp === undefined) return { column: false, overrides: [] };

  // The source names the file and column, not the row: inserting rows must not change a slide's file.
  const source = `${file}, column '${mapping.mpp}'`;
  const first = new Map<string, { line: number; mpp: number | undefined }>();
  const overrides: MppColumn['overrides'] = [];
  for (const { line, cells } of records) {
    const cell = MppCell.safeParse(cells[index.mpp] ?? '');
    if (!cell.success) {
      for (const issue of cell.error.issues) problems.push(`${cellWhere(line, mapping.mpp, 'mpp')}: ${issue.message}`);
      continue;
    }
    const mpp = cell.data;
    // A row without an image id names no slide: merge-assign refuses it, tile-detect has nothing to do with it.
    const slide = (cells[index.image_id!] ?? '').trim();
    if (!slide) continue;
    const seen = first.get(slide);
    if (seen) {
      if (seen.mpp !== mpp)
        problems.push(
          `${cellWhere(line, mapping.image_id, 'image_id')}: image id '${slide}' has resolution ${describe(mpp)} here ` +
            `but ${describe(seen.mpp)} on line ${seen.line}; a slide has one resolution`,
        );
      continue;
    }
    first.set(slide, { line, mpp });
    if (mpp !== undefined) overrides.push({ slide, override: { mpp, source } });
  }
  if (problems.length) throw new ManifestError(file, problems);
  return { column: true, overrides };
}

/** manifest-mpp's datum: `/mpp/<slide>.json` per slide the manifest gives a resolution; nothing else. */
export function runManifestMpp(manifestDir: string, outDir: string, config: ManifestMppConfig): MppColumn {
  const result = parseMppColumn(readManifestText(manifestDir, config.MANIFEST_FILE), {
    file: config.MANIFEST_FILE,
    mapping: { image_id: config.IMAGE_COLUMN, mpp: config.MPP_COLUMN },
  });
  for (const o of result.overrides)
    writeFileAtomic(join(outDir, mppOverrideFile(o.slide)), mppOverrideText(o.override));
  return result;
}
