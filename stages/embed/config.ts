/** embed's parameters, from the pipeline's transform.env: those of every model stage. */
import { z } from 'zod';
import { parseEnv } from '../../shared/config.js';
import { modelEnvFields } from '../../shared/onnx/config.js';

export const EmbedConfigSchema = z.object({ ...modelEnvFields });
export type EmbedConfig = z.infer<typeof EmbedConfigSchema>;

export function readEmbedConfig(env: Record<string, string | undefined> = process.env): EmbedConfig {
  return parseEnv(EmbedConfigSchema, env, 'embed transform.env');
}
