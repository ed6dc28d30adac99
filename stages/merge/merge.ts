/**
 * The merge stage's work, independent of where inputs are mounted: manifest -> cohort -> splits -> shards ->
 * splits.csv, dataset.json, report.md. Everything that can be wrong with the inputs is checked before the first
 * byte is written; records are built and written one patient at a time.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../shared/pfs.js';
import { DATASET_JSON } from '../../shared/dataset-reader.js';
import { createLogger, type Logger } from '../../shared/log.js';
import { buildCohort, type CohortPatient } from './cohort.js';
import type { MergeConfig } from './config.js';
import { buildDatasetJson } from './dataset-json.js';
import { parseManifest, ManifestError } from './manifest.js';
import { encodePatientRecord, estimateRecordBytes } from './patient-record.js';
import { buildReport } from './report.js';
import { planShards, writeShards, type ShardPlan } from './shards.js';
import { loadPatientTiles, TileBuffers, type StageDirs } from './slide-outputs.js';
import { assignSplits, formatSplitsCsv, INFERENCE, parsePins, SPLITS, type Split } from './splits.js';
import type { MergeResult } from './summary.js';

export interface MergeInputs {
  /** The manifest repo's root (holds manifest.csv and optionally splits.csv). */
  manifestDir: string;
  dirs: StageDirs;
  outDir: string;
  config: MergeConfig;
  log?: Logger;
}

export async function runMerge(inputs: MergeInputs): Promise<MergeResult> {
  const { manifestDir, dirs, outDir, config } = inputs;
  const log = inputs.log ?? createLogger('merge');

  const manifestPath = join(manifestDir, config.MANIFEST_FILE);
  if (!existsSync(manifestPath)) {
    throw new ManifestError(config.MANIFEST_FILE, [`not found in the manifest repo (${manifestPath}); commit it with: tessella put file manifest@master:/${config.MANIFEST_FILE} -f <your csv>`]);
  }
  const manifest = parseManifest(readFileSync(manifestPath, 'utf8'), {
    file: config.MANIFEST_FILE,
    kind: config.DATASET_KIND,
    mapping: { image_id: config.IMAGE_COLUMN, patient_id: config.PATIENT_COLUMN, center_id: config.CENTER_COLUMN, label: config.LABEL_COLUMN },
  });
  const kind = manifest.labeled ? 'labeled' : 'inference';
  const pinsPath = join(manifestDir, config.PINS_FILE);
  const pins = kind === 'labeled' && existsSync(pinsPath) ? parsePins(readFileSync(pinsPath, 'utf8'), config.PINS_FILE) : new Map<string, Split>();
  log.info('manifest read', { rows: manifest.rows.length, patients: manifest.patients.length, centers: manifest.centerNames.length, kind, pins: pins.size });

  const cohort = buildCohort(manifest, dirs);
  log.info('cohort surveyed', {
    patients: cohort.patients.length,
    dropped_patients: cohort.droppedPatients.length,
    excluded_slides: cohort.excludedSlides.length,
    unlisted_slides: cohort.unlistedSlides.length,
    embedding_dim: cohort.embeddingDim,
  });

  const assignment = new Map<string, string>();
  if (kind === 'labeled') {
    const splits = assignSplits(
      cohort.patients.map((p) => ({ patientId: p.patient.patientId, center: p.patient.center })),
      { fractions: config.SPLIT_FRACTIONS as [number, number, number], seed: config.SPLIT_SEED, pins },
    );
    for (const [p, s] of splits) assignment.set(p, s);
  } else {
    for (const p of cohort.patients) assignment.set(p.patient.patientId, INFERENCE);
  }
  const sets = (kind === 'labeled' ? [...SPLITS] : [INFERENCE]).filter((s) => [...assignment.values()].includes(s));
  const included = new Set(assignment.keys());
  const unusedPins = [...pins.keys()].filter((p) => !included.has(p)).sort();

  // Plan every shard before writing any (the names carry the count).
  const byId = new Map<string, CohortPatient>(cohort.patients.map((p) => [p.patient.patientId, p]));
  const targetBytes = config.SHARD_SIZE_MB * 1024 * 1024;
  const plans: ShardPlan[] = sets.flatMap((set) =>
    planShards(
      set,
      cohort.patients
        .filter((p) => assignment.get(p.patient.patientId) === set)
        .map((p) => ({ patientId: p.patient.patientId, bytes: estimateRecordBytes(p.tiles, cohort.embeddingDim, p.slides.reduce((a, s) => a + s.slideId.length, 0)) })),
      targetBytes,
      config.SPLIT_SEED,
    ),
  );

  const totalTiles = cohort.patients.reduce((a, p) => a + p.tiles, 0);
  const progress = log.progress('records', totalTiles, 'tiles');
  const buffers = new TileBuffers();
  const written = await writeShards(
    outDir,
    plans,
    (patientId) => {
      const p = byId.get(patientId)!;
      const tiles = loadPatientTiles(dirs, p.slides, cohort.embeddingDim, buffers);
      return encodePatientRecord(
        {
          patientId,
          centerId: manifest.centerIds[p.patient.center],
          label: kind === 'labeled' ? manifest.labelNames.indexOf(p.patient.label!) : undefined,
        },
        tiles,
        cohort.embeddingDim,
      );
    },
    { gzip: config.COMPRESSION === 'gzip', onRecord: (id) => progress.tick(byId.get(id)!.tiles) },
  );
  progress.finish({ shards: written.length });

  const shards: MergeResult['shards'] = {};
  for (const w of written) (shards[w.file.split('/')[0]] ??= []).push(w);
  const result: MergeResult = { manifest, cohort, config, kind, sets, assignment, pins, unusedPins, shards };

  writeFileAtomic(join(outDir, 'splits.csv'), formatSplitsCsv(assignment, pins));
  writeFileAtomic(join(outDir, DATASET_JSON), JSON.stringify(buildDatasetJson(result), null, 2) + '\n');
  writeFileAtomic(join(outDir, 'report.md'), buildReport(result));
  log.info('dataset written', { out: outDir, sets: sets.join(','), patients: assignment.size, tiles: totalTiles, shards: written.length });
  return result;
}
