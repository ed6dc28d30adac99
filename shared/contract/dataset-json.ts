/**
 * `/dataset.json`: the contract merge writes for a training script (the feature spec, label names, counts,
 * provenance). One zod schema: merge checks what it writes against it, the reader what it reads.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import { DATASET_JSON } from './files.js';
import { FeatureSpecSchema } from './patient-example.js';

const Count = z.number().int().nonnegative();
const CountsByName = z.record(z.string(), z.object({ patients: Count, slides: Count, tiles: Count }));

export const ShardInfoSchema = z.object({
  /** Path relative to the dataset folder, e.g. `train/train-00000-of-00002.tfrecord`. */
  file: z.string(),
  records: Count,
  /** Bytes on disk. */
  bytes: Count,
});

export const SetInfoSchema = z.object({
  patients: Count,
  slides: Count,
  tiles: Count,
  shards: z.array(ShardInfoSchema),
  centers: CountsByName,
  labels: CountsByName,
});
export type SetInfo = z.infer<typeof SetInfoSchema>;

export const DatasetJsonSchema = z.object({
  format: z.literal('tessella-patient-mil'),
  version: z.literal(1),
  kind: z.enum(['labeled', 'inference']),
  /** As `tf.data.TFRecordDataset(compression_type=...)` wants it. */
  compression: z.enum(['', 'GZIP']),
  embedding_dim: z.number().int().nonnegative(),
  features: z.record(z.string(), FeatureSpecSchema),
  label_names: z.array(z.string()),
  centers: z.array(z.object({ name: z.string(), id: z.number().int() })),
  center_id_rule: z.enum(['manifest-integer', 'sorted-index']),
  sets: z.record(z.string(), SetInfoSchema),
  totals: z.object({ patients: Count, slides: Count, tiles: Count }),
  splits: z.object({ fractions: z.array(z.number()), seed: z.string(), pinned: Count, file: z.string() }).optional(),
  excluded: z.object({
    slides: z.array(
      z.object({ slide: z.string(), patient: z.string(), why: z.string(), stage: z.string().optional() }),
    ),
    patients: z.array(z.object({ patient: z.string(), why: z.string() })),
    unlisted_slides: z.array(z.string()),
  }),
  /** Present only when manifest rows and slides do not all match (shared/manifest-match.ts): ids compared in NFC. */
  manifest_match: z
    .object({
      rows_without_slide: z.array(z.string()),
      slides_without_row: z.array(z.string()),
      near_misses: z.array(z.object({ row: z.string(), slide: z.string(), differ: z.enum(['unicode', 'case']) })),
    })
    .optional(),
  /** Per stage, the distinct values of the model-identifying metadata the slides carry (sha256, card). */
  models: z.record(z.string(), z.record(z.string(), z.array(z.unknown()))),
  params: z.record(z.string(), z.unknown()),
});
export type DatasetJson = z.infer<typeof DatasetJsonSchema>;

export function readDatasetJson(dir: string): DatasetJson {
  const file = join(dir, DATASET_JSON);
  if (!existsSync(file)) throw new Error(`${dir}: no ${DATASET_JSON}; is this the output of the merge stage?`);
  const parsed = DatasetJsonSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`${file}: not a tessella dataset description:\n  ${issues.join('\n  ')}`);
  }
  return parsed.data;
}
