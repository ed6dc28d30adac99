/**
 * manifest-mpp's parameters (transform.env): merge-assign's own three that name where the resolutions are, with the
 * same names and defaults (picked from its schema), so a user sets them alike in both specs.
 */
import type * as z from 'zod';
import { parseEnv } from '../../shared/config.js';
import { MergeConfigSchema } from '../cohort/merge-config.js';

export const ManifestMppConfigSchema = MergeConfigSchema.pick({
  MANIFEST_FILE: true,
  IMAGE_COLUMN: true,
  MPP_COLUMN: true,
});
export type ManifestMppConfig = z.infer<typeof ManifestMppConfigSchema>;

export function readManifestMppConfig(env: Record<string, string | undefined> = process.env): ManifestMppConfig {
  return parseEnv(ManifestMppConfigSchema, env, 'manifest-mpp transform.env');
}
