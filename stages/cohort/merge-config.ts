/** merge's parameters (transform.env), parsed once into a typed config. */
import * as z from 'zod';
import { envEnum, envList, envNumber, envString, parseEnv } from '../../shared/config.js';
import { MANIFEST_CSV, SPLITS_CSV } from '../../shared/contract/index.js';

export const MergeConfigSchema = z.object({
  MANIFEST_FILE: envString().default(MANIFEST_CSV),
  /** Pinned splits in the manifest repo (optional file). */
  PINS_FILE: envString().default(SPLITS_CSV),
  IMAGE_COLUMN: envString().default('image_id'),
  PATIENT_COLUMN: envString().default('patient_id'),
  CENTER_COLUMN: envString().default('center_id'),
  LABEL_COLUMN: envString().default('label'),
  /** Optional column: a slide's resolution (um/px) that overrides its own for tile-detect's physical tiles. */
  MPP_COLUMN: envString().default('mpp'),
  DATASET_KIND: envEnum(['auto', 'labeled', 'inference'] as const).default('auto'),
  SPLIT_FRACTIONS: envList()
    .default(['0.8', '0.1', '0.1'])
    .transform((list) => list.map(Number))
    .pipe(
      z
        .array(z.number({ error: 'expected a number' }).min(0, { error: 'fractions must be >= 0' }))
        .length(3, { error: 'expected three fractions: train,val,eval' })
        .refine((f) => f.reduce((a, b) => a + b, 0) > 0, { error: 'fractions must not all be 0' }),
    ),
  SPLIT_SEED: envString().default('0'),
  /**
   * Shards per set are fixed by config, never by who has tiles today: a new patient must not rename every shard.
   * A set gets max(1, ceil(EXPECTED_PATIENTS x its fraction / PATIENTS_PER_SHARD)) shards; a patient's shard is a
   * seeded hash of its id modulo that count.
   */
  EXPECTED_PATIENTS: envNumber({ min: 1 })
    .pipe(z.number().int({ error: 'expected a whole number' }))
    .default(1000),
  PATIENTS_PER_SHARD: envNumber({ min: 1 })
    .pipe(z.number().int({ error: 'expected a whole number' }))
    .default(4),
  COMPRESSION: envEnum(['none', 'gzip'] as const).default('none'),
});
export type MergeConfig = z.infer<typeof MergeConfigSchema>;

export function readMergeConfig(env: Record<string, string | undefined> = process.env): MergeConfig {
  return parseEnv(MergeConfigSchema, env);
}
