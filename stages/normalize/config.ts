/** normalize's parameters, from the pipeline's transform.env. */
import * as z from 'zod';
import { envEnum, envInt, parseEnv } from '../../shared/config.js';
import { JPEG_CHROMAS } from '../../shared/image.js';
import { modelEnvFields } from '../../shared/onnx/config.js';

export const NormalizeConfigSchema = z.object({
  ...modelEnvFields,
  /** png (default): lossless, no second JPEG generation; same: each tile's input format; jpeg. */
  TILE_FORMAT: envEnum(['png', 'same', 'jpeg'] as const).default('png'),
  JPEG_QUALITY: envInt({ min: 1, max: 100 }).default(95),
  JPEG_CHROMA: envEnum(JPEG_CHROMAS).default('4:4:4'),
  /** zlib level 0..9 of PNG tiles: 0 (stored) is the cheapest to write and read, 1 ~40% smaller (see shared/image.ts). */
  PNG_COMPRESSION: envInt({ min: 0, max: 9 }).default(0),
});
export type NormalizeConfig = z.infer<typeof NormalizeConfigSchema>;

export function readNormalizeConfig(env: Record<string, string | undefined> = process.env): NormalizeConfig {
  return parseEnv(NormalizeConfigSchema, env, 'normalize transform.env');
}
