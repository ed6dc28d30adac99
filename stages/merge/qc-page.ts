/**
 * The last merge step's part of the QC page: put merge-shard's QC pieces beside the page (`/qc/<slide>.jpg` and the
 * shards' card scripts `/qc/<set>-NNNNN.js`, symlinks into the lazy input, copied by reference: no byte of them is
 * read here) and write `/report.html`, which loads one script per shard. The only cards read and rendered here are
 * those no script holds (a shard whose records the cohort leaves out, a slide no shard lists yet).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { QC_CARDS_DIR as QC_DIR, REPORT_HTML } from '../../shared/contract/files.js';
import { placeAtomic, writeFileAtomic } from '../../shared/pfs.js';
import type { ShardCards } from '../cohort/merge-file-types.js';
import type { QcCard } from '../cohort/qc-card-file.js';
import { buildReportHtml } from './report-html.js';
import type { MergeResult } from './summary.js';

/** A shard's QC pieces as its summary names them, and whether the page may use its script as it is. */
export interface ShardQc {
  /** `qc/<set>-NNNNN.js`, relative to merge-shard's output (and to the page) */
  script: string;
  /** `qc/<set>-NNNNN.cards.json` */
  cards: string;
  /** the slides whose cards the script holds */
  slides: string[];
  /** false: the cohort leaves the shard's records out (another embedding dimension), so its cards are rendered here */
  asIs: boolean;
}

export interface QcPageInputs {
  result: MergeResult;
  placed: Record<string, string>;
  /** merge-shard's output root (its `/qc` holds the pieces); absent: a page without pictures */
  shardRepo?: string;
  shards: ShardQc[];
  outDir: string;
  /** symlink the pieces (a pipeline's output) or copy them (a plain folder) */
  link: boolean;
}

export function writeQcPage(inputs: QcPageInputs): {
  scripts: number;
  inline: number;
  pictures: number;
  bytes: number;
} {
  const { result, outDir, shardRepo } = inputs;
  const problems: string[] = [];
  const qcDir = shardRepo ? join(shardRepo, QC_DIR) : undefined;
  // Every picture and script merge-shard made, linked beside the page (the card data stays behind).
  let pictures = 0;
  const placed = new Set<string>();
  if (qcDir && existsSync(qcDir)) {
    const names = readdirSync(qcDir)
      .filter((n) => n.endsWith('.jpg') || n.endsWith('.js'))
      .sort();
    for (const n of names) {
      try {
        placeAtomic(join(qcDir, n), join(outDir, QC_DIR, n), inputs.link ? 'symlink' : 'copy');
        placed.add(`${QC_DIR}/${n}`);
        if (n.endsWith('.jpg')) pictures++;
      } catch (err) {
        problems.push(`${QC_DIR}/${n} cannot be placed: ${(err as Error).message}`);
      }
    }
  }
  const scripts: string[] = [];
  const covered = new Set<string>();
  const cards = new Map<string, QcCard>();
  for (const s of inputs.shards) {
    if (s.asIs && placed.has(s.script)) {
      scripts.push(s.script);
      for (const id of s.slides) covered.add(id);
      continue;
    }
    if (s.asIs) continue; // no script to load: its slides are rendered here, without their QC card
    // Rendered here with the cohort's decision: its cards as data (read for this shard only).
    try {
      const data = JSON.parse(readFileSync(join(shardRepo!, s.cards), 'utf8')) as ShardCards;
      for (const c of data.cards) cards.set(c.slide, c);
    } catch (err) {
      problems.push(`${s.cards} cannot be read: ${(err as Error).message}`);
    }
  }
  for (const [id, card] of cards)
    if (card.picture && !placed.has(`${QC_DIR}/${id}.jpg`)) {
      const { picture: _p, ...rest } = card;
      void _p;
      cards.set(id, { ...rest, pictureProblem: `${QC_DIR}/${id}.jpg is not in merge-shard's output` });
    }
  const inline = new Set(result.manifest.rows.map((r) => r.imageId).filter((id) => !covered.has(id)));
  const html = buildReportHtml({ result, placed: inputs.placed, scripts, inline, cards, problems });
  writeFileAtomic(join(outDir, REPORT_HTML), html);
  return { scripts: scripts.length, inline: inline.size, pictures, bytes: Buffer.byteLength(html) };
}
