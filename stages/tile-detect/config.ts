/** tile-detect's parameters, from the pipeline's transform.env. */
import { z } from 'zod';
import { envInt, envNumber, parseEnv } from '../../shared/config.js';

export const DetectConfigSchema = z.object({
  /** Tile side in level-0 pixels. */
  TILE_SIZE: envInt({ min: 16, max: 16384 }).default(448),
  /** The overview the rule runs on is 1/DOWNSAMPLE of level 0. */
  DOWNSAMPLE: envNumber({ min: 1, max: 1024 }).default(16),
  /** A pixel is background when R, G and B are all above this. */
  BACKGROUND_THRESHOLD: envInt({ min: 0, max: 255 }).default(190),
  /** A tile is kept when at most this share of its pixels is background. */
  MAX_BACKGROUND_FRACTION: envNumber({ min: 0, max: 1 }).default(0.1),
  /** Keep at most this many tiles, those with the most tissue; 0 = no limit. */
  MAX_TILES: envInt({ min: 0 }).default(0),
  /** Longest side of the QC pictures, in pixels. */
  QC_MAX_SIDE: envInt({ min: 64, max: 16384 }).default(2048),
});
export type DetectConfig = z.infer<typeof DetectConfigSchema>;

export function readDetectConfig(env: Record<string, string | undefined> = process.env): DetectConfig {
  return parseEnv(DetectConfigSchema, env, 'tile-detect transform.env');
}
