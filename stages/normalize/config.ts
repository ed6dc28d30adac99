/** normalize's parameters, from the pipeline's transform.env. */
import { z } from 'zod';
import { envEnum, envInt, parseEnv } from '../../shared/config.js';
import { modelEnvFields } from '../../shared/onnx/config.js';

export const NormalizeConfigSchema = z.object({
  ...modelEnvFields,
  /** same: keep each tile's format; jpeg or png: re-encode all tiles so. */
  TILE_FORMAT: envEnum(['same', 'jpeg', 'png'] as const).default('same'),
  JPEG_QUALITY: envInt({ min: 1, max: 100 }).default(95),
});
export type NormalizeConfig = z.infer<typeof NormalizeConfigSchema>;

export function readNormalizeConfig(env: Record<string, string | undefined> = process.env): NormalizeConfig {
  return parseEnv(NormalizeConfigSchema, env, 'normalize transform.env');
}
