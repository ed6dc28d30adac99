/**
 * The QC page's piece of one slide, made per slide by merge-slide so a new slide costs one small resize and never
 * redoes the others: `/qc/<slide>.jpg`, tile-detect's kept/dropped overlay (`qc/tiles.jpg`, up to QC_MAX_SIDE a side)
 * scaled down to a card's size, and `/qc/<slide>.json`, the tissue-fraction histogram and the keep threshold from
 * `tiles.json`. The last merge step only reads these small files and links the pictures (by reference).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { z } from 'zod';
import { writeFileAtomic } from '../../shared/pfs.js';
import { TissueHistogramSchema } from '../../shared/contract/tiles-json.js';

import { QC_CARDS_DIR as QC_DIR } from '../../shared/contract/files.js';
export { QC_DIR };
/** Longest side of a card's picture: small enough for 1,000 cards, large enough to see the tissue. */
export const CARD_PICTURE_SIDE = 320;
const CARD_JPEG_QUALITY = 75;
const OVERLAY = join('qc', 'tiles.jpg');

export const QcCardSchema = z.object({
  slide: z.string(),
  /** Tissue fractions binned; `keptOnly` when tiles.json predates the grid histogram (only kept tiles known). */
  histogram: TissueHistogramSchema.extend({ keptOnly: z.boolean() }).optional(),
  /** A tile is kept at or above this tissue fraction (1 - MAX_BACKGROUND_FRACTION). */
  keepAt: z.number().min(0).max(1).optional(),
  /** The card picture, `/qc/<slide>.jpg`, when tile-detect drew one. */
  picture: z.object({ width: z.number().int().positive(), height: z.number().int().positive() }).optional(),
  /** Why there is no picture although tile-detect's output is there. */
  pictureProblem: z.string().optional(),
});
export type QcCard = z.infer<typeof QcCardSchema>;

const LenientTiles = z.looseObject({
  params: z.looseObject({ max_background_fraction: z.number().min(0).max(1) }).optional(),
  tissue_histogram: TissueHistogramSchema.optional(),
  tiles: z.array(z.looseObject({ tissue_fraction: z.number().min(0).max(1) })).optional(),
});

function histogramOf(tiles: z.infer<typeof LenientTiles>): QcCard['histogram'] {
  if (tiles.tissue_histogram) return { ...tiles.tissue_histogram, keptOnly: false };
  if (!tiles.tiles) return undefined;
  const bins = 20;
  const counts = new Array<number>(bins).fill(0);
  for (const t of tiles.tiles) counts[Math.min(bins - 1, Math.floor(t.tissue_fraction * bins))]++;
  return { bins, counts, keptOnly: true };
}

/** tiles.json read leniently: another stage defines it, and a card without a histogram is still a card. */
function readTiles(slideDir: string): z.infer<typeof LenientTiles> | undefined {
  const file = join(slideDir, 'tiles.json');
  if (!existsSync(file)) return undefined;
  try {
    return LenientTiles.safeParse(JSON.parse(readFileSync(file, 'utf8'))).data;
  } catch {
    return undefined;
  }
}

/** Build the card of one slide from its tile-detect folder (`<tile_detect>/<slide>`, absent when not there). */
export async function buildQcCard(
  slideId: string,
  tileDetectDir: string | undefined,
): Promise<{ card: QcCard; picture?: Buffer }> {
  const card: QcCard = { slide: slideId };
  if (!tileDetectDir) return { card };
  const tiles = readTiles(tileDetectDir);
  if (tiles) {
    card.histogram = histogramOf(tiles);
    if (tiles.params) card.keepAt = Math.round((1 - tiles.params.max_background_fraction) * 1e4) / 1e4;
  }
  const overlay = join(tileDetectDir, OVERLAY);
  if (!existsSync(overlay)) return { card };
  try {
    const side = CARD_PICTURE_SIDE;
    const { data, info } = await sharp(overlay, { limitInputPixels: false })
      .resize({ width: side, height: side, fit: 'inside', withoutEnlargement: true, kernel: 'lanczos3' })
      .jpeg({ quality: CARD_JPEG_QUALITY, chromaSubsampling: '4:4:4' })
      .toBuffer({ resolveWithObject: true });
    card.picture = { width: info.width, height: info.height };
    return { card, picture: data };
  } catch (err) {
    card.pictureProblem = `tile-detect's ${OVERLAY} cannot be read: ${(err as Error).message}`;
    return { card };
  }
}

/** Write `/qc/<slide>.json` (and `/qc/<slide>.jpg`) under `outDir`; returns the card. */
export async function writeQcCard(slideId: string, tileDetectDir: string | undefined, outDir: string): Promise<QcCard> {
  const { card, picture } = await buildQcCard(slideId, tileDetectDir);
  if (picture) writeFileAtomic(join(outDir, QC_DIR, `${slideId}.jpg`), picture);
  writeFileAtomic(join(outDir, QC_DIR, `${slideId}.json`), JSON.stringify(card) + '\n');
  return card;
}

/** Read the cards of a merge-slide output's `/qc` folder, by slide id (unreadable ones are skipped, named). */
export function readQcCards(
  qcDir: string | undefined,
  slideIds: Iterable<string>,
): { cards: Map<string, QcCard>; problems: string[] } {
  const cards = new Map<string, QcCard>();
  const problems: string[] = [];
  if (!qcDir || !existsSync(qcDir)) return { cards, problems };
  for (const id of slideIds) {
    let text: string;
    try {
      text = readFileSync(join(qcDir, `${id}.json`), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // no card yet: merge-slide has not run for it
      throw err;
    }
    try {
      cards.set(id, QcCardSchema.parse(JSON.parse(text)));
    } catch (err) {
      problems.push(`${QC_DIR}/${id}.json: ${(err as Error).message}`);
    }
  }
  return { cards, problems };
}
