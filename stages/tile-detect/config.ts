/** tile-detect's parameters, from the pipeline's transform.env. */
import * as z from 'zod';
import { ConfigError, envInt, envNumber, parseEnv } from '../../shared/config.js';
import { DEFAULT_TILE_SIZE } from '../../shared/contract/index.js';

export const DetectConfigSchema = z.object({
  /** Tile side in level-0 pixels; with TILE_UM or TARGET_MPP, the output tile's side. */
  TILE_SIZE: envInt({ min: 16, max: 16384 }).default(DEFAULT_TILE_SIZE),
  /** Tiles of this many micrometres a side, resized to TILE_SIZE px; 0 = off (tiles of TILE_SIZE level-0 px). */
  TILE_UM: envNumber({ min: 0, max: 100_000 }).default(0),
  /** Or: tiles of TILE_SIZE px at this many micrometres per pixel (TILE_UM = TILE_SIZE x TARGET_MPP); 0 = off. */
  TARGET_MPP: envNumber({ min: 0, max: 1000 }).default(0),
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

/** The tile's side in micrometres when physical tiling is asked for, else undefined (the default, level-0 px). */
export function physicalTileUm(config: DetectConfig): number | undefined {
  if (config.TILE_UM > 0) return config.TILE_UM;
  if (config.TARGET_MPP > 0) return config.TILE_SIZE * config.TARGET_MPP;
  return undefined;
}

export function readDetectConfig(env: Record<string, string | undefined> = process.env): DetectConfig {
  const config = parseEnv(DetectConfigSchema, env, 'tile-detect transform.env');
  if (config.TILE_UM > 0 && config.TARGET_MPP > 0) {
    throw new ConfigError(
      'tile-detect transform.env: TILE_UM and TARGET_MPP are two ways to ask for one thing; set one (the other 0)',
    );
  }
  return config;
}
