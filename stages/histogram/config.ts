/** histogram's parameters, from the pipeline's transform.env. */
import * as z from 'zod';
import { envInt, parseEnv } from '../../shared/config.js';

export const HistogramConfigSchema = z.object({
  /** Tiles decoded at once. */
  DECODE_CONCURRENCY: envInt({ min: 1, max: 64 }).default(8),
});
export type HistogramConfig = z.infer<typeof HistogramConfigSchema>;

export function readHistogramConfig(env: Record<string, string | undefined> = process.env): HistogramConfig {
  return parseEnv(HistogramConfigSchema, env, 'histogram transform.env');
}
