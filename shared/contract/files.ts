/**
 * Every file name that crosses a stage boundary: what a stage writes under `/pfs/out` and the next one (or a
 * user) reads. A writer and its readers import the name from here, never spell it.
 */

// ---- per slide, `/<slide>/...` in the slide stages' repos --------------------------------------------------
/** tile-detect: the kept tiles and the facts they were chosen from (schema: tiles-json.ts). */
export const TILES_JSON = 'tiles.json';
/** tile-detect: the QC pictures, under `/<slide>/qc/`. */
export const QC_DIR = 'qc';
export const QC_THUMBNAIL = 'thumbnail.jpg';
export const QC_TILES_OVERLAY = 'tiles.jpg';
export const QC_TILES_GEOJSON = 'tiles.geojson';
/** tile-extract and normalize: one tf.train.Example per tile, slideflow's keys. */
export const TILES_TFRECORD = 'tiles.tfrecord';
/** embed: per-tile pooled embeddings (layout: slide-tensors.ts). */
export const EMBEDDINGS_FILE = 'embeddings.safetensors';
/** histogram: the slide's colour histogram (layout: slide-tensors.ts). */
export const HISTOGRAM_FILE = 'histogram.safetensors';
/** Any slide stage, in place of its outputs: why the slide could not be processed (schema: error-json.ts). */
export const ERROR_FILE = 'error.json';

// ---- the models repo, `/<task>/...` ---------------------------------------------------------------------------
export const MODEL_FILE = 'model.onnx';
export const MODEL_CARD_FILE = 'model.json';

// ---- the manifest repo (defaults of merge's MANIFEST_FILE and PINS_FILE) --------------------------------------
export const MANIFEST_CSV = 'manifest.csv';

// ---- manifest-mpp -> tile-detect ------------------------------------------------------------------------------
/** manifest-mpp: `/mpp/<slide>.json` per manifest row with a resolution (schema: mpp-override.ts), read by tile-detect. */
export const MPP_OVERRIDES_DIR = 'mpp';
export const mppOverrideFile = (slide: string): string => `${MPP_OVERRIDES_DIR}/${slide}.json`;

// ---- between the merge pipelines ------------------------------------------------------------------------------
/** merge-assign: `/slides/<slide>.json` per manifest slide (schema: merge-files.ts) and `/cohort.json`. */
export const ASSIGNED_SLIDES_DIR = 'slides';
export const COHORT_FILE = 'cohort.json';
export const assignedSlideFile = (slide: string): string => `${ASSIGNED_SLIDES_DIR}/${slide}.json`;
/** merge-slide: `/shards/<set>/<NNNNN>/<patient>/<slide>/slide.json`, or `/unlisted/<slide>.json`. */
export const SHARDS_DIR = 'shards';
export const UNLISTED_DIR = 'unlisted';
export const SLIDE_FILE = 'slide.json';
/** merge-slide: a manifest slide's QC card beside its slide.json: `qc.json` (histogram, threshold) and `qc.jpg`. */
export const QC_CARD_FILE = 'qc.json';
export const QC_PICTURE_FILE = 'qc.jpg';
export const unlistedSlideFile = (slide: string): string => `${UNLISTED_DIR}/${slide}.json`;
/** merge-shard: `/summary/<set>-NNNNN.json` per shard and `/summary/unlisted.json`. */
export const SUMMARY_DIR = 'summary';
export const UNLISTED_SUMMARY = 'unlisted.json';
export const shardSummaryFile = (set: string, shard: number): string => `${SUMMARY_DIR}/${set}-${pad5(shard)}.json`;

// ---- the dataset, merge@master:/ ------------------------------------------------------------------------------
export const DATASET_JSON = 'dataset.json';
/** Also the default PINS_FILE: committed back to the manifest repo, it pins the splits. */
export const SPLITS_CSV = 'splits.csv';
export const REPORT_MD = 'report.md';
/** The cohort QC page, self-contained but for the per-slide pictures under `/qc/` beside it. */
export const REPORT_HTML = 'report.html';
/**
 * merge-shard's and the dataset's QC pieces, under `/qc/`: `<slide>.jpg` per card picture, `<set>-NNNNN.js` per shard
 * (its slides' cards, which report.html loads with a script tag) and, in merge-shard's repo only, `<set>-NNNNN.cards.json`
 * (the same cards as data, read by the last step only for a shard whose records the cohort leaves out).
 */
export const QC_CARDS_DIR = 'qc';
export const qcShardScript = (set: string, shard: number): string => `${QC_CARDS_DIR}/${set}-${pad5(shard)}.js`;
export const qcShardCards = (set: string, shard: number): string => `${QC_CARDS_DIR}/${set}-${pad5(shard)}.cards.json`;
export const qcPictureFile = (slide: string): string => `${QC_CARDS_DIR}/${slide}.jpg`;
/** A shard of a set, relative to the dataset: `<set>/<set>-NNNNN-of-MMMMM.tfrecord`. */
export const shardFileName = (set: string, index: number, count: number): string =>
  `${set}/${set}-${pad5(index)}-of-${pad5(count)}.tfrecord`;

function pad5(n: number): string {
  return String(n).padStart(5, '0');
}
