/**
 * The QC page's piece of one slide, made per slide by merge-slide so a new slide costs one small resize and never
 * redoes the others, written beside the slide's slide.json in its shard folder: `qc.jpg`, tile-detect's kept/dropped
 * overlay (`qc/tiles.jpg`, up to QC_MAX_SIDE a side) scaled down to a card's size, and `qc.json`, the tissue-fraction
 * histogram and the keep threshold from `tiles.json`. merge-shard renders its shard's cards from these (one script
 * per shard, report.html loads it) and links the pictures; the last merge step reads none of them. The card's schema
 * and reader: stages/cohort/qc-card-file.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import { QC_CARD_FILE, QC_PICTURE_FILE } from '../../shared/contract/files.js';
import { TissueHistogramSchema } from '../../shared/contract/tiles-json.js';
import { writeFileAtomic } from '../../shared/pfs.js';
import { loadSharp } from '../../shared/sharp.js';
import type { QcCard } from '../cohort/qc-card-file.js';

/** Longest side of a card's picture: small enough for 1,000 cards, large enough to see the tissue. */
export const CARD_PICTURE_SIDE = 320;
const CARD_JPEG_QUALITY = 75;
const OVERLAY = join('qc', 'tiles.jpg');

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
    const sharp = await loadSharp();
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

/** Write the card (`qc.json`) and its picture (`qc.jpg`) into a slide's folder of merge-slide's output; returns the card. */
export async function writeQcCard(
  slideId: string,
  tileDetectDir: string | undefined,
  slideDir: string,
): Promise<QcCard> {
  const { card, picture } = await buildQcCard(slideId, tileDetectDir);
  if (picture) writeFileAtomic(join(slideDir, QC_PICTURE_FILE), picture);
  writeFileAtomic(join(slideDir, QC_CARD_FILE), JSON.stringify(card) + '\n');
  return card;
}
