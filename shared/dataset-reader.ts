/**
 * A tessella dataset read back: `dataset.json` (the contract merge writes, zod-checked here), the shards of each
 * set, and one decoded record per patient. Reading streams shard by shard and checks both CRCs of every record.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { bytesFeature, decodeExample, floatFeature, int64Feature, type DecodedFeatures } from './example.js';
import { readTFRecords } from './tfrecord.js';

export const DATASET_JSON = 'dataset.json';
export const HISTOGRAM_BINS = 4096;

/** One entry of the feature spec, as `tf.io.parse_single_example` wants it (see docs/loading-the-dataset.md). */
export const FeatureSpecSchema = z.object({
  kind: z.enum(['FixedLenFeature', 'FixedLenSequenceFeature']),
  dtype: z.enum(['string', 'int64', 'float32']),
  shape: z.array(z.number().int().nonnegative()),
  allow_missing: z.boolean().optional(),
});
export type FeatureSpec = z.infer<typeof FeatureSpecSchema>;

/** The features of a patient record and how TensorFlow parses them; `label` only in labelled sets. */
export function featureSpec(embeddingDim: number, labeled: boolean): Record<string, FeatureSpec> {
  const scalar = (dtype: FeatureSpec['dtype']): FeatureSpec => ({ kind: 'FixedLenFeature', dtype, shape: [] });
  const perTile = (dtype: FeatureSpec['dtype'], shape: number[] = []): FeatureSpec => ({ kind: 'FixedLenSequenceFeature', dtype, shape, allow_missing: true });
  return {
    patient_id: scalar('string'),
    center_id: scalar('int64'),
    ...(labeled ? { label: scalar('int64') } : {}),
    num_tiles: scalar('int64'),
    embedding_dim: scalar('int64'),
    // [D] per step: TensorFlow parses the flat num_tiles*D floats straight into [num_tiles, D].
    embedding_avg: perTile('float32', [embeddingDim]),
    embedding_max: perTile('float32', [embeddingDim]),
    color_histogram: { kind: 'FixedLenFeature', dtype: 'float32', shape: [HISTOGRAM_BINS] },
    slide_ids: perTile('string'),
    tile_slide: perTile('int64'),
    tile_loc_x: perTile('int64'),
    tile_loc_y: perTile('int64'),
  };
}

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
    slides: z.array(z.object({ slide: z.string(), patient: z.string(), why: z.string(), stage: z.string().optional() })),
    patients: z.array(z.object({ patient: z.string(), why: z.string() })),
    unlisted_slides: z.array(z.string()),
  }),
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

export interface PatientRecord {
  patientId: string;
  centerId: number;
  label?: number;
  numTiles: number;
  embeddingDim: number;
  /** [numTiles * embeddingDim], row-major per tile. */
  embeddingAvg: Float32Array;
  embeddingMax: Float32Array;
  colorHistogram: Float32Array;
  slideIds: string[];
  tileSlide: number[];
  tileLocX: number[];
  tileLocY: number[];
}

const toNumbers = (v: bigint[]) => v.map(Number);

/** Decode one record, checking that its lengths agree with each other. */
export function decodePatientRecord(buf: Uint8Array): PatientRecord {
  const f: DecodedFeatures = decodeExample(buf);
  const numTiles = Number(int64Feature(f, 'num_tiles')[0]);
  const embeddingDim = Number(int64Feature(f, 'embedding_dim')[0]);
  const record: PatientRecord = {
    patientId: bytesFeature(f, 'patient_id')[0].toString('utf8'),
    centerId: Number(int64Feature(f, 'center_id')[0]),
    label: f.label ? Number(int64Feature(f, 'label')[0]) : undefined,
    numTiles,
    embeddingDim,
    embeddingAvg: floatFeature(f, 'embedding_avg'),
    embeddingMax: floatFeature(f, 'embedding_max'),
    colorHistogram: floatFeature(f, 'color_histogram'),
    slideIds: bytesFeature(f, 'slide_ids').map((b) => b.toString('utf8')),
    tileSlide: toNumbers(int64Feature(f, 'tile_slide')),
    tileLocX: toNumbers(int64Feature(f, 'tile_loc_x')),
    tileLocY: toNumbers(int64Feature(f, 'tile_loc_y')),
  };
  const problems: string[] = [];
  for (const key of ['embeddingAvg', 'embeddingMax'] as const) {
    if (record[key].length !== numTiles * embeddingDim) problems.push(`${key} has ${record[key].length} floats, expected ${numTiles} x ${embeddingDim}`);
  }
  for (const key of ['tileSlide', 'tileLocX', 'tileLocY'] as const) {
    if (record[key].length !== numTiles) problems.push(`${key} has ${record[key].length} values, expected ${numTiles}`);
  }
  if (record.colorHistogram.length !== HISTOGRAM_BINS) problems.push(`color_histogram has ${record.colorHistogram.length} bins, expected ${HISTOGRAM_BINS}`);
  if (record.tileSlide.some((i) => i < 0 || i >= record.slideIds.length)) problems.push('tile_slide points outside slide_ids');
  if (problems.length) throw new Error(`record of patient '${record.patientId}' is inconsistent: ${problems.join('; ')}`);
  return record;
}

/** One tile's embedding (a view, not a copy). */
export function tileEmbedding(values: Float32Array, dim: number, tile: number): Float32Array {
  return values.subarray(tile * dim, (tile + 1) * dim);
}

export interface ShardRef {
  set: string;
  file: string;
  path: string;
  records: number;
}

export function shardsOf(dir: string, info: DatasetJson, set?: string): ShardRef[] {
  const out: ShardRef[] = [];
  for (const [name, s] of Object.entries(info.sets)) {
    if (set !== undefined && name !== set) continue;
    for (const shard of s.shards) out.push({ set: name, file: shard.file, path: join(dir, shard.file), records: shard.records });
  }
  return out;
}

/** Every patient record of a dataset (or of one set), streamed, CRCs checked. */
export async function* readPatients(dir: string, options: { set?: string; info?: DatasetJson } = {}): AsyncGenerator<PatientRecord & { set: string; file: string }> {
  const info = options.info ?? readDatasetJson(dir);
  for (const shard of shardsOf(dir, info, options.set)) {
    for await (const buf of readTFRecords(shard.path, { gzip: info.compression === 'GZIP', verify: true })) {
      yield { ...decodePatientRecord(buf), set: shard.set, file: shard.file };
    }
  }
}

/** The record of one patient (a scan of every shard), or undefined. */
export async function findPatient(dir: string, patientId: string, info: DatasetJson = readDatasetJson(dir)): Promise<(PatientRecord & { set: string; file: string }) | undefined> {
  for await (const r of readPatients(dir, { info })) if (r.patientId === patientId) return r;
  return undefined;
}

export interface ShardCheck {
  file: string;
  set: string;
  expected: number;
  records: number;
  tiles: number;
  problem?: string;
}

/** Read every record of every shard: both CRCs, the Example decodes, lengths agree, counts match dataset.json. */
export async function verifyDataset(dir: string, info: DatasetJson = readDatasetJson(dir)): Promise<{ ok: boolean; shards: ShardCheck[]; problems: string[] }> {
  const shards: ShardCheck[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const shard of shardsOf(dir, info)) {
    const check: ShardCheck = { file: shard.file, set: shard.set, expected: shard.records, records: 0, tiles: 0 };
    try {
      if (!existsSync(shard.path)) throw new Error('file is missing');
      for await (const buf of readTFRecords(shard.path, { gzip: info.compression === 'GZIP', verify: true })) {
        const r = decodePatientRecord(buf);
        if (r.embeddingDim !== info.embedding_dim) throw new Error(`patient '${r.patientId}': embedding_dim ${r.embeddingDim}, dataset.json says ${info.embedding_dim}`);
        if (seen.has(r.patientId)) throw new Error(`patient '${r.patientId}' appears twice`);
        seen.add(r.patientId);
        check.records++;
        check.tiles += r.numTiles;
      }
      if (check.records !== check.expected) throw new Error(`${check.records} records, dataset.json says ${check.expected}`);
    } catch (err) {
      check.problem = (err as Error).message;
      problems.push(`${shard.file}: ${check.problem}`);
    }
    shards.push(check);
  }
  for (const [name, s] of Object.entries(info.sets)) {
    const got = shards.filter((c) => c.set === name);
    const tiles = got.reduce((a, c) => a + c.tiles, 0);
    if (got.every((c) => !c.problem) && tiles !== s.tiles) problems.push(`set ${name}: ${tiles} tiles in the records, dataset.json says ${s.tiles}`);
  }
  return { ok: problems.length === 0, shards, problems };
}
