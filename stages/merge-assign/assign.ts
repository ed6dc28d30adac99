/**
 * merge-assign: the manifest alone decides every patient's set and shard, so nothing about which slides have tiles
 * yet can move a patient. Writes one small file per manifest slide, `/slides/<slide>.json` (what the slide's record
 * fragment needs: patient, set, shard, fields, its place among the patient's slides), and `/cohort.json` (the parsed
 * manifest, pins, the assignment and the parameters) for the last step's dataset.json, splits.csv and report.md.
 * The resolution column (MPP_COLUMN) is checked here as manifest-mpp checks it (same cell rule and wording), so the
 * column is a mapped one, not an extra column of the report; manifest-mpp, which reads nothing else, writes the
 * `/mpp/<slide>.json` files tile-detect joins on, so a manifest this stage refuses holds back merge only.
 *
 * Only a patient's own rows (and the few patients a split's quota boundary moves, as the quota assignment does) change
 * its slides' files, so only their downstream datums re-run. All of merge's parameters live here (merge-assign.yaml):
 * they travel in these files, so changing one re-runs exactly what it affects.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assignedSlideFile, COHORT_FILE, shardFileName, type AssignedSlide } from '../../shared/contract/index.js';
import { writeFileAtomic } from '../../shared/pfs.js';
import { fnv1a32 } from '../../shared/random.js';
import { parseManifest, readManifestText, type Manifest } from '../cohort/manifest.js';
import type { CohortFile } from '../cohort/merge-file-types.js';
import type { MergeConfig } from '../cohort/merge-config.js';
import { assignSplits, INFERENCE, parsePins, SPLITS, type Split } from '../cohort/splits.js';

/** Shards of a set, from configuration alone (see EXPECTED_PATIENTS in stages/cohort/merge-config.ts). */
export function shardCount(
  set: string,
  config: Pick<MergeConfig, 'EXPECTED_PATIENTS' | 'PATIENTS_PER_SHARD' | 'SPLIT_FRACTIONS'>,
): number {
  let fraction = 1;
  const i = (SPLITS as readonly string[]).indexOf(set);
  if (i >= 0) {
    const total = config.SPLIT_FRACTIONS.reduce((a, b) => a + b, 0);
    fraction = config.SPLIT_FRACTIONS[i] / total;
  }
  return Math.max(1, Math.ceil((config.EXPECTED_PATIENTS * fraction) / config.PATIENTS_PER_SHARD));
}

/** A patient's shard: a seeded hash of its own id, so it never depends on who else is in the cohort. */
export function shardOf(seed: string, set: string, patientId: string, count: number): number {
  return fnv1a32(`${seed}:${set}:shard:${patientId}`) % count;
}

export function readManifestInputs(
  manifestDir: string,
  config: MergeConfig,
): { manifest: Manifest; pins: Map<string, Split> } {
  const manifest = parseManifest(readManifestText(manifestDir, config.MANIFEST_FILE), {
    file: config.MANIFEST_FILE,
    kind: config.DATASET_KIND,
    mapping: {
      image_id: config.IMAGE_COLUMN,
      patient_id: config.PATIENT_COLUMN,
      center_id: config.CENTER_COLUMN,
      label: config.LABEL_COLUMN,
      mpp: config.MPP_COLUMN,
    },
  });
  const pinsPath = join(manifestDir, config.PINS_FILE);
  const pins =
    manifest.labeled && existsSync(pinsPath)
      ? parsePins(readFileSync(pinsPath, 'utf8'), config.PINS_FILE)
      : new Map<string, Split>();
  return { manifest, pins };
}

export interface AssignResult {
  cohort: CohortFile;
  slides: AssignedSlide[];
}

/** The assignment as values (no files): every manifest slide's AssignedSlide and the cohort file. */
export function assignCohort(manifest: Manifest, pins: Map<string, Split>, config: MergeConfig): AssignResult {
  const kind = manifest.labeled ? 'labeled' : 'inference';
  const seed = String(config.SPLIT_SEED);
  const assignment = new Map<string, string>();
  if (kind === 'labeled') {
    const splits = assignSplits(
      manifest.patients.map((p) => ({ patientId: p.patientId, center: p.center })),
      { fractions: config.SPLIT_FRACTIONS as [number, number, number], seed, pins },
    );
    for (const p of manifest.patients) assignment.set(p.patientId, splits.get(p.patientId)!);
  } else {
    for (const p of manifest.patients) assignment.set(p.patientId, INFERENCE);
  }
  const lineOf = new Map(manifest.rows.map((r) => [r.imageId, r.line]));
  const slides: AssignedSlide[] = [];
  for (const p of manifest.patients) {
    const set = assignment.get(p.patientId)!;
    const shards = shardCount(set, config);
    const shard = shardOf(seed, set, p.patientId, shards);
    p.slides.forEach((slide, slideIndex) => {
      slides.push({
        slide,
        patient: p.patientId,
        line: lineOf.get(slide)!,
        slideIndex,
        patientSlides: p.slides.length,
        set,
        shard,
        shards,
        file: shardFileName(set, shard, shards),
        center: p.center,
        centerId: manifest.centerIds[p.center],
        ...(kind === 'labeled' ? { label: manifest.labelNames.indexOf(p.label!), labelName: p.label! } : {}),
        seed,
        compression: config.COMPRESSION,
      });
    });
  }
  const cohort: CohortFile = {
    kind,
    manifest,
    config,
    pins: Object.fromEntries([...pins.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    assignment: Object.fromEntries(assignment),
  };
  return { cohort, slides };
}

/** merge-assign's datum: `/slides/<slide>.json` per manifest slide and `/cohort.json`. */
export function runAssign(manifestDir: string, outDir: string, config: MergeConfig): AssignResult {
  const { manifest, pins } = readManifestInputs(manifestDir, config);
  const result = assignCohort(manifest, pins, config);
  for (const s of result.slides)
    writeFileAtomic(join(outDir, assignedSlideFile(s.slide)), JSON.stringify(s, null, 2) + '\n');
  writeFileAtomic(join(outDir, COHORT_FILE), JSON.stringify(result.cohort) + '\n');
  return result;
}
