/**
 * The patient record: one tf.train.Example per patient in merge's TFRecords. PATIENT_FEATURES is its single
 * description; the encoder (merge), the `features` of dataset.json (how TensorFlow parses a record) and the
 * decoder (tessella's own reader) are all derived from it, and docs/loading-the-dataset.md is checked against it.
 */
import * as z from 'zod';
import {
  bytesFeature,
  decodeExample,
  encodeExample,
  floatFeature,
  int64Feature,
  type DecodedFeatures,
  type Feature,
  type Features,
} from '../example.js';
import { DEFAULT_EMBEDDING_VECTORS, HISTOGRAM_BINS, type EmbeddingVector } from './shapes.js';

export interface PatientRecord {
  patientId: string;
  centerId: number;
  /** Index into dataset.json's label_names; undefined in an inference set. */
  label?: number;
  numTiles: number;
  embeddingDim: number;
  /**
   * [numTiles * embeddingDim], row-major per tile: the pooled vectors the embed model's card writes (avg and max by
   * default; cls for the class-token modes). A vector the dataset does not have is empty (avg, max) or absent (cls),
   * and its feature is not in the record.
   */
  embeddingAvg: Float32Array;
  embeddingMax: Float32Array;
  embeddingCls?: Float32Array;
  colorHistogram: Float32Array;
  slideIds: string[];
  tileSlide: number[];
  tileLocX: number[];
  tileLocY: number[];
}

/**
 * How many values a feature holds: one (`scalar`), one per tile (`per-tile`, each of `width` floats for the
 * embeddings), one per slide (`per-slide`), or a fixed count (`fixed`, `width` of them).
 */
export type FeatureLayout = 'scalar' | 'per-tile' | 'per-slide' | 'fixed';

export interface PatientFeature {
  name: string;
  field: keyof PatientRecord;
  dtype: 'string' | 'int64' | 'float32';
  layout: FeatureLayout;
  /** Values per tile ('embedding': the dataset's embedding_dim), or the length of a fixed feature. */
  width?: 'embedding' | number;
  /** Only in a labelled set. */
  labeledOnly?: true;
  /** A pooled embedding vector: only in datasets whose embed model writes it (dataset.json lists it). */
  vector?: EmbeddingVector;
}

/** Every feature of the record, in the order dataset.json lists them. */
export const PATIENT_FEATURES: readonly PatientFeature[] = [
  { name: 'patient_id', field: 'patientId', dtype: 'string', layout: 'scalar' },
  { name: 'center_id', field: 'centerId', dtype: 'int64', layout: 'scalar' },
  { name: 'label', field: 'label', dtype: 'int64', layout: 'scalar', labeledOnly: true },
  { name: 'num_tiles', field: 'numTiles', dtype: 'int64', layout: 'scalar' },
  { name: 'embedding_dim', field: 'embeddingDim', dtype: 'int64', layout: 'scalar' },
  {
    name: 'embedding_avg',
    field: 'embeddingAvg',
    dtype: 'float32',
    layout: 'per-tile',
    width: 'embedding',
    vector: 'avg',
  },
  {
    name: 'embedding_max',
    field: 'embeddingMax',
    dtype: 'float32',
    layout: 'per-tile',
    width: 'embedding',
    vector: 'max',
  },
  {
    name: 'embedding_cls',
    field: 'embeddingCls',
    dtype: 'float32',
    layout: 'per-tile',
    width: 'embedding',
    vector: 'cls',
  },
  { name: 'color_histogram', field: 'colorHistogram', dtype: 'float32', layout: 'fixed', width: HISTOGRAM_BINS },
  { name: 'slide_ids', field: 'slideIds', dtype: 'string', layout: 'per-slide' },
  { name: 'tile_slide', field: 'tileSlide', dtype: 'int64', layout: 'per-tile' },
  { name: 'tile_loc_x', field: 'tileLocX', dtype: 'int64', layout: 'per-tile' },
  { name: 'tile_loc_y', field: 'tileLocY', dtype: 'int64', layout: 'per-tile' },
];

/** One entry of the feature spec, as `tf.io.parse_single_example` wants it (see docs/loading-the-dataset.md). */
export const FeatureSpecSchema = z.object({
  kind: z.enum(['FixedLenFeature', 'FixedLenSequenceFeature']),
  dtype: z.enum(['string', 'int64', 'float32']),
  shape: z.array(z.number().int().nonnegative()),
  allow_missing: z.boolean().optional(),
});
export type FeatureSpec = z.infer<typeof FeatureSpecSchema>;

const inSet = (f: PatientFeature, labeled: boolean, vectors: readonly EmbeddingVector[]) =>
  (labeled || !f.labeledOnly) && (!f.vector || vectors.includes(f.vector));

/**
 * The features of a patient record and how TensorFlow parses them; `label` only in labelled sets, the embedding
 * vectors the dataset's embed model writes (avg and max by default).
 */
export function featureSpec(
  embeddingDim: number,
  labeled: boolean,
  vectors: readonly EmbeddingVector[] = DEFAULT_EMBEDDING_VECTORS,
): Record<string, FeatureSpec> {
  const spec = (f: PatientFeature): FeatureSpec => {
    if (f.layout === 'scalar') return { kind: 'FixedLenFeature', dtype: f.dtype, shape: [] };
    if (f.layout === 'fixed') return { kind: 'FixedLenFeature', dtype: f.dtype, shape: [f.width as number] };
    // [D] per step: TensorFlow parses the flat num_tiles*D floats straight into [num_tiles, D].
    const shape = f.width === 'embedding' ? [embeddingDim] : [];
    return { kind: 'FixedLenSequenceFeature', dtype: f.dtype, shape, allow_missing: true };
  };
  return Object.fromEntries(PATIENT_FEATURES.filter((f) => inSet(f, !!labeled, vectors)).map((f) => [f.name, spec(f)]));
}

/** Serialize a record; the record's lengths are the caller's to get right (decodePatientRecord checks them). */
export function encodePatientRecord(r: PatientRecord): Buffer {
  const features: Features = {};
  for (const f of PATIENT_FEATURES) {
    const v = r[f.field];
    if (f.vector && (v === undefined || (v as Float32Array).length === 0)) continue;
    if (v === undefined) {
      if (f.labeledOnly) continue;
      throw new Error(`patient '${r.patientId}': the record has no ${f.name}`);
    }
    const list = f.layout === 'scalar' ? [v] : v;
    const feature = f.dtype === 'string' ? { bytes: list } : f.dtype === 'int64' ? { int64: list } : { float: list };
    features[f.name] = feature as Feature;
  }
  return encodeExample(features);
}

function decodeFeature(fs: DecodedFeatures, f: PatientFeature): unknown {
  if (f.labeledOnly && !fs[f.name]) return undefined;
  // the record's type keeps avg and max: empty when the dataset does not have them
  if (f.vector && !fs[f.name]) return f.vector === 'cls' ? undefined : new Float32Array(0);
  const values =
    f.dtype === 'string'
      ? bytesFeature(fs, f.name).map((b) => b.toString('utf8'))
      : f.dtype === 'int64'
        ? int64Feature(fs, f.name).map(Number)
        : floatFeature(fs, f.name);
  return f.layout === 'scalar' ? values[0] : values;
}

/** Decode one record, checking that its lengths agree with each other. */
export function decodePatientRecord(buf: Uint8Array): PatientRecord {
  const fs = decodeExample(buf);
  const fields = PATIENT_FEATURES.map((f) => [f.field, decodeFeature(fs, f)]);
  const record = Object.fromEntries(fields) as unknown as PatientRecord;
  const problems: string[] = [];
  for (const f of PATIENT_FEATURES) {
    const got = (record[f.field] as ArrayLike<unknown> | undefined)?.length;
    if (f.vector && !got) continue;
    if (f.layout === 'per-tile' && f.width === 'embedding') {
      const want = record.numTiles * record.embeddingDim;
      if (got !== want)
        problems.push(`${f.field} has ${got} floats, expected ${record.numTiles} x ${record.embeddingDim}`);
    } else if (f.layout === 'per-tile') {
      if (got !== record.numTiles) problems.push(`${f.field} has ${got} values, expected ${record.numTiles}`);
    } else if (f.layout === 'fixed') {
      if (got !== f.width) problems.push(`${f.name} has ${got} values, expected ${f.width}`);
    }
  }
  const slides = record.slideIds.length;
  if (record.tileSlide.some((i) => i < 0 || i >= slides)) problems.push('tile_slide points outside slide_ids');
  if (problems.length) {
    throw new Error(`record of patient '${record.patientId}' is inconsistent: ${problems.join('; ')}`);
  }
  return record;
}
