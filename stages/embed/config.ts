/** embed's parameters, from the pipeline's transform.env: those of every model stage, and its sessions. */
import * as z from 'zod';
import { envInt, parseEnv } from '../../shared/config.js';
import { modelEnvFields, sessionSettings } from '../../shared/onnx/config.js';
import { defaultSessions, type SessionSettings } from '../../shared/onnx/providers.js';

export const EmbedConfigSchema = z.object({
  ...modelEnvFields,
  /**
   * Sessions of the model side by side, each with its share of the cores (or INTRA_OP_THREADS each), batches dealt
   * to the least busy. 0 picks: 2 on CPU where there are 2 cores or more, 1 on a GPU (defaultSessions).
   */
  SESSIONS: envInt({ min: 0, max: 64 }).default(0),
});
export type EmbedConfig = z.infer<typeof EmbedConfigSchema>;

export function readEmbedConfig(env: Record<string, string | undefined> = process.env): EmbedConfig {
  return parseEnv(EmbedConfigSchema, env, 'embed transform.env');
}

/** The session settings of embed's model: every model stage's, and its sessions side by side. */
export function embedSessionSettings(cfg: EmbedConfig): SessionSettings {
  const settings = sessionSettings(cfg);
  return { ...settings, sessions: cfg.SESSIONS || defaultSessions(settings.providers) };
}
