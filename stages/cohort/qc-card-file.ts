/**
 * A slide's QC card as merge-slide writes it beside the slide's slide.json (`qc.json`, and `qc.jpg` when tile-detect
 * drew an overlay): its schema and its reader. merge-shard reads the cards of its shard; the last merge step reads a
 * shard's cards only when it must render them itself.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import { QC_CARD_FILE, QC_PICTURE_FILE } from '../../shared/contract/files.js';
import { TissueHistogramSchema } from '../../shared/contract/tiles-json.js';

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

/**
 * The card in a slide's folder of merge-slide's output (merge-shard's input), with the path of its picture when it has
 * one; undefined when merge-slide wrote none (an older merge-slide), a card naming the problem when it cannot be read.
 */
export function readQcCard(slideId: string, slideDir: string): { card: QcCard; picture?: string } | undefined {
  let text: string;
  try {
    text = readFileSync(join(slideDir, QC_CARD_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let card: QcCard;
  try {
    card = QcCardSchema.parse(JSON.parse(text));
  } catch (err) {
    return {
      card: {
        slide: slideId,
        pictureProblem: `merge-slide's ${QC_CARD_FILE} cannot be read: ${(err as Error).message}`,
      },
    };
  }
  if (!card.picture) return { card };
  const picture = join(slideDir, QC_PICTURE_FILE);
  if (existsSync(picture)) return { card, picture };
  const { picture: _p, ...rest } = card;
  void _p;
  return {
    card: {
      ...rest,
      pictureProblem: `merge-slide's ${QC_CARD_FILE} names a picture, but there is no ${QC_PICTURE_FILE}`,
    },
  };
}
