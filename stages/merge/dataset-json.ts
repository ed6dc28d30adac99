/** `/dataset.json`: everything a training script needs to parse the records, plus counts and provenance. */
import { DatasetJsonSchema, featureSpec, SPLITS_CSV, type DatasetJson } from '../../shared/contract/index.js';
import { manifestMatch, setInfo, type MergeResult } from './summary.js';

export function buildDatasetJson(result: MergeResult): DatasetJson {
  const { manifest, cohort, config } = result;
  const sets = Object.fromEntries(result.sets.map((s) => [s, setInfo(result, s)]));
  const totals = Object.values(sets).reduce(
    (t, s) => ({ patients: t.patients + s.patients, slides: t.slides + s.slides, tiles: t.tiles + s.tiles }),
    { patients: 0, slides: 0, tiles: 0 },
  );
  const match = manifestMatch(result);
  const unmatched = match.rowsWithoutSlide.length + match.slidesWithoutRow.length > 0;
  const json: DatasetJson = {
    format: 'tessella-patient-mil',
    version: 1,
    kind: result.kind,
    compression: config.COMPRESSION === 'gzip' ? 'GZIP' : '',
    embedding_dim: cohort.embeddingDim,
    features: featureSpec(cohort.embeddingDim, result.kind === 'labeled', cohort.embeddingVectors),
    label_names: result.kind === 'labeled' ? manifest.labelNames : [],
    centers: manifest.centerNames.map((name) => ({ name, id: manifest.centerIds[name] })),
    center_id_rule: manifest.centerIdRule,
    sets,
    totals,
    ...(result.kind === 'labeled'
      ? {
          splits: {
            fractions: config.SPLIT_FRACTIONS,
            seed: config.SPLIT_SEED,
            pinned: result.pins.size - result.unusedPins.length,
            file: SPLITS_CSV,
          },
        }
      : {}),
    excluded: {
      slides: cohort.excludedSlides,
      patients: cohort.droppedPatients,
      unlisted_slides: cohort.unlistedSlides,
    },
    // only when something does not match, so a cohort whose rows and slides agree keeps its bytes
    ...(unmatched
      ? {
          manifest_match: {
            rows_without_slide: match.rowsWithoutSlide,
            slides_without_row: match.slidesWithoutRow,
            near_misses: match.nearMisses,
          },
        }
      : {}),
    models: Object.fromEntries(Object.entries(cohort.models).filter(([, keys]) => Object.keys(keys).length > 0)),
    params: { ...config, columns: manifest.mapping },
  };
  // The schema the reader checks: never write a dataset.json our own reader would refuse.
  return DatasetJsonSchema.parse(json);
}
