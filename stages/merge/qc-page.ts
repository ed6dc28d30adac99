/**
 * The last merge step's part of the QC page: read merge-slide's small per-slide cards, put each card picture beside
 * the page as `/qc/<slide>.jpg` (a symlink into the lazy input, copied by reference: no picture byte is read here)
 * and write `/report.html`.
 */
import { copyFileSync, mkdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../shared/pfs.js';
import { QC_DIR, readQcCards } from './qc-card.js';
import { buildReportHtml } from './report-html.js';
import type { MergeResult } from './summary.js';

export { REPORT_HTML } from '../../shared/contract/files.js';
import { REPORT_HTML } from '../../shared/contract/files.js';

export interface QcPageInputs {
  result: MergeResult;
  placed: Record<string, string>;
  /** merge-slide's `/qc` folder (cards and pictures); absent: a page without pictures */
  qcDir?: string;
  outDir: string;
  /** symlink the pictures (a pipeline's output) or copy them (a plain folder) */
  link: boolean;
}

/** A symlink (or a copy) written under a temp name and renamed into place; `to`'s folder exists. */
function place(from: string, to: string, link: boolean): void {
  const tmp = `${to}.tmp-place`;
  try {
    if (link) symlinkSync(from, tmp);
    else copyFileSync(from, tmp);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    rmSync(tmp, { force: true });
    if (link) symlinkSync(from, tmp);
    else copyFileSync(from, tmp);
  }
  renameSync(tmp, to);
}

export function writeQcPage(inputs: QcPageInputs): { cards: number; pictures: number; bytes: number } {
  const { result, qcDir, outDir } = inputs;
  const { cards, problems } = readQcCards(
    qcDir,
    result.manifest.rows.map((r) => r.imageId),
  );
  let pictures = 0;
  if (cards.size) mkdirSync(join(outDir, QC_DIR), { recursive: true });
  for (const [id, card] of cards) {
    if (!card.picture) continue;
    try {
      place(join(qcDir!, `${id}.jpg`), join(outDir, QC_DIR, `${id}.jpg`), inputs.link);
      pictures++;
    } catch (err) {
      problems.push(
        `${QC_DIR}/${id}.json names a picture, but ${QC_DIR}/${id}.jpg cannot be placed: ${(err as Error).message}`,
      );
      delete card.picture;
    }
  }
  const html = buildReportHtml({ result, placed: inputs.placed, cards, problems });
  writeFileAtomic(join(outDir, REPORT_HTML), html);
  return { cards: cards.size, pictures, bytes: Buffer.byteLength(html) };
}
