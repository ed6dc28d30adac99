/** tile-extract's parameters, from the pipeline's transform.env. */
import * as z from 'zod';
import { envEnum, envInt, parseEnv } from '../../shared/config.js';
import { JPEG_CHROMAS } from '../../shared/image.js';

export const ExtractConfigSchema = z.object({
  /** How tiles are stored in tiles.tfrecord: JPEG (slideflow's default) or lossless PNG. */
  TILE_FORMAT: envEnum(['jpeg', 'png'] as const).default('jpeg'),
  JPEG_QUALITY: envInt({ min: 1, max: 100 }).default(95),
  /** 4:4:4 (full-resolution colour) or 4:2:0; see shared/image.ts for what 4:2:0 costs H&E tiles. */
  JPEG_CHROMA: envEnum(JPEG_CHROMAS).default('4:4:4'),
  /** Tiles being read and encoded at once; memory grows with it, not with the slide. */
  READS_IN_FLIGHT: envInt({ min: 1, max: 64 }).default(4),
});
export type ExtractConfig = z.infer<typeof ExtractConfigSchema>;

export function readExtractConfig(env: Record<string, string | undefined> = process.env): ExtractConfig {
  return parseEnv(ExtractConfigSchema, env, 'tile-extract transform.env');
}
