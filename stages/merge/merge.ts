/**
 * merge (the last step, the dataset at `merge@master:/`): from merge-assign's `/cohort.json` and merge-shard's small
 * summaries, writes `/dataset.json`, `/splits.csv` and `/report.md`, and puts every shard in place as a symlink into
 * the lazy merge_shard input (copied by reference on Pachyderm, by content hash on the engine: no shard byte is read
 * or written here), and `/report.html` with merge-shard's QC pieces linked beside it (qc-page.ts).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DATASET_JSON,
  MODEL_CARD_FILE,
  MODEL_FILE,
  REPORT_MD,
  SPLITS_CSV,
  SUMMARY_DIR,
  UNLISTED_SUMMARY,
  DEFAULT_EMBEDDING_VECTORS,
  embeddingLayout,
  isDefaultVectors,
  layoutDiffers,
  type EmbeddingVector,
} from '../../shared/contract/index.js';
import { createLogger, type Logger } from '../../shared/log.js';
import { placeAtomic, writeFileAtomic } from '../../shared/pfs.js';
import type { CohortFile, ExcludedSlide, ShardSummary, SlideOutcome } from '../cohort/merge-file-types.js';
import { formatSplitsCsv, INFERENCE, SPLITS, type Split } from '../cohort/splits.js';
import { buildDatasetJson } from './dataset-json.js';
import { writeQcPage, type ShardQc } from './qc-page.js';
import { buildReport } from './report.js';
import type { Cohort, CohortPatient, MergeResult, OkSlide } from './summary.js';

export interface FinalInputs {
  /** merge-assign's `/cohort.json` */
  cohortFile: string;
  /** merge-shard's output root (`/<set>/*.tfrecord`, `/summary/*.json`) */
  shardRepo: string;
  /** the models repo's `/normalize` folder, for its model's hash in dataset.json */
  normalizeDir?: string;
  outDir: string;
  /** symlink the shards (a pipeline's output) or copy them (a plain folder) */
  link: boolean;
  log?: Logger;
}

function mergeModels(
  into: Record<string, Record<string, unknown[]>>,
  from: Record<string, Record<string, unknown[]>>,
): void {
  for (const [stage, keys] of Object.entries(from)) {
    const dst = (into[stage] ??= {});
    for (const [key, values] of Object.entries(keys)) {
      const list = (dst[key] ??= []);
      for (const v of values) if (!list.some((x) => JSON.stringify(x) === JSON.stringify(v))) list.push(v);
    }
  }
}

function normalizeModel(dir: string | undefined): Record<string, unknown[]> | undefined {
  if (!dir) return undefined;
  const onnx = join(dir, MODEL_FILE);
  if (!existsSync(onnx)) return undefined;
  const out: Record<string, unknown[]> = {
    model_sha256: [createHash('sha256').update(readFileSync(onnx)).digest('hex')],
  };
  const card = join(dir, MODEL_CARD_FILE);
  if (existsSync(card)) {
    try {
      out.model_card = [JSON.parse(readFileSync(card, 'utf8'))];
    } catch {
      /* the card is normalize's to check; the hash alone identifies the model */
    }
  }
  return out;
}

/** merge will not publish a dataset with no patient in it: the last good one stays the branch head. */
export class EmptyDatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmptyDatasetError';
  }
}

/**
 * A dataset with no patient is published when the slides themselves say why (unreadable, no tissue): the report is
 * the answer. It is refused when the cause is upstream of every slide: no manifest slide has any output (the models
 * repo's /embed deleted, nothing run yet), or every slide failed in one model stage for one reason. Failing here
 * keeps the previous dataset as the branch head. The message groups the slides by reason, most common first.
 */
function refuseEmptyDataset(cohort: Cohort, manifestSlides: number): void {
  if (cohort.patients.length > 0 || manifestSlides === 0) return;
  const outcomes = cohort.outcomes.map((o) => o.outcome);
  const noOutputs = outcomes.every((o) => o.status === 'excluded' && o.missing);
  const reasonOf = (o: SlideOutcome) =>
    o.status === 'error'
      ? `${o.error.stage}: ${o.error.what}${o.error.why ? ` (${o.error.why})` : ''}`
      : o.status === 'excluded'
        ? o.why
        : 'no tiles';
  const modelStages = new Set(['normalize', 'embed']);
  const oneModelReason =
    outcomes.every((o) => o.status === 'error' && modelStages.has(o.error.stage)) &&
    new Set(outcomes.map(reasonOf)).size === 1;
  if (!noOutputs && !oneModelReason) return;
  const reasons = new Map<string, string[]>();
  for (const o of outcomes)
    (reasons.get(reasonOf(o)) ?? reasons.set(reasonOf(o), []).get(reasonOf(o))!).push(o.slideId);
  const lines = [...reasons.entries()]
    .sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1))
    .map(([why, slides]) => `${slides.length} slide(s): ${why} (e.g. ${slides.slice(0, 3).join(', ')})`);
  throw new EmptyDatasetError(
    `${noOutputs ? 'no slide of the manifest has outputs from embed and histogram' : 'every slide failed for one model reason'}` +
      `, so no dataset is published and the previous one stays:\n  ${lines.join('\n  ')}\n` +
      `Fix the cause upstream (e.g. the models repo's /embed folder, the slides repo) and run again.`,
  );
}

export function runFinal(inputs: FinalInputs): MergeResult {
  const log = inputs.log ?? createLogger('merge');
  const c = JSON.parse(readFileSync(inputs.cohortFile, 'utf8')) as CohortFile;
  const { manifest, config, kind } = c;
  const summaryDir = join(inputs.shardRepo, SUMMARY_DIR);
  const names = existsSync(summaryDir)
    ? readdirSync(summaryDir)
        .filter((n) => n.endsWith('.json') && n !== UNLISTED_SUMMARY)
        .sort()
    : [];
  const summaries = names.map((n) => JSON.parse(readFileSync(join(summaryDir, n), 'utf8')) as ShardSummary);
  const unlistedFile = join(summaryDir, UNLISTED_SUMMARY);
  const unlistedSlides: string[] = existsSync(unlistedFile)
    ? (JSON.parse(readFileSync(unlistedFile, 'utf8')) as { slides: string[] }).slides
    : [];

  // One embedding layout (dimension and pooled vectors) per dataset: the most common over the slides in records.
  const layoutOf = (s: ShardSummary) => embeddingLayout(s.dim, s.vectors ?? DEFAULT_EMBEDDING_VECTORS);
  const layouts = new Map<string, { dim: number; vectors: readonly EmbeddingVector[]; slides: number }>();
  for (const s of summaries) {
    if (s.records === 0) continue;
    const l = layouts.get(layoutOf(s)) ?? { dim: s.dim, vectors: s.vectors ?? DEFAULT_EMBEDDING_VECTORS, slides: 0 };
    l.slides += s.patients.reduce((a, p) => a + p.slides.length, 0);
    layouts.set(layoutOf(s), l);
  }
  const top = [...layouts.values()].sort((a, b) => b.slides - a.slides || a.dim - b.dim)[0];
  const embeddingDim = top?.dim ?? 0;
  const embeddingVectors = top?.vectors ?? DEFAULT_EMBEDDING_VECTORS;
  const cohortLayout = embeddingLayout(embeddingDim, embeddingVectors);

  const rowIndex = new Map(manifest.rows.map((r, i) => [r.imageId, i]));
  const patientIndex = new Map(manifest.patients.map((p, i) => [p.patientId, i]));
  const outcomeOf = new Map<string, SlideOutcome>();
  const used = new Map<string, { slides: { slideId: string; tiles: number }[]; tiles: number }>();
  const excludedSlides: ExcludedSlide[] = [];
  const dropped = new Map<string, string>();
  const models: Cohort['models'] = {};
  const shards: MergeResult['shards'] = {};
  const qcShards: ShardQc[] = [];
  for (const s of summaries) {
    if (s.qc)
      qcShards.push({
        script: s.qc.script,
        cards: s.qc.cards,
        slides: s.slides.map((x) => x.outcome.slideId),
        asIs: s.records === 0 || layoutOf(s) === cohortLayout,
      });
    for (const sl of s.slides) outcomeOf.set(sl.outcome.slideId, sl.outcome);
    excludedSlides.push(...s.excludedSlides);
    for (const d of s.droppedPatients) dropped.set(d.patient, d.why);
    if (s.records === 0) continue;
    if (layoutOf(s) !== cohortLayout) {
      for (const p of s.patients) {
        dropped.set(p.patientId, layoutDiffers(layoutOf(s), cohortLayout));
        for (const sl of p.slides)
          excludedSlides.push({
            slide: sl.slideId,
            patient: p.patientId,
            why: layoutDiffers(layoutOf(s), cohortLayout),
          });
      }
      continue;
    }
    for (const p of s.patients) used.set(p.patientId, { slides: p.slides, tiles: p.tiles });
    mergeModels(models, s.models);
    (shards[s.set] ??= []).push({ file: s.file, records: s.records, bytes: s.bytes });
  }
  const normalize = normalizeModel(inputs.normalizeDir);
  if (normalize) models.normalize = normalize;

  const outcomes: Cohort['outcomes'] = manifest.rows.map((r) => ({
    patientId: r.patientId,
    line: r.line,
    outcome: outcomeOf.get(r.imageId) ?? {
      status: 'excluded',
      slideId: r.imageId,
      why: 'no output yet from merge-slide',
      missing: true,
    },
  }));
  for (const o of outcomes)
    if (!outcomeOf.has(o.outcome.slideId))
      excludedSlides.push({ slide: o.outcome.slideId, patient: o.patientId, why: (o.outcome as { why: string }).why });
  excludedSlides.sort((a, b) => (rowIndex.get(a.slide) ?? Infinity) - (rowIndex.get(b.slide) ?? Infinity));

  const patients: CohortPatient[] = [];
  const droppedPatients: Cohort['droppedPatients'] = [];
  for (const patient of manifest.patients) {
    const u = used.get(patient.patientId);
    if (u) {
      const slides = u.slides.map((s) => outcomeOf.get(s.slideId) as OkSlide);
      patients.push({ patient, slides, tiles: u.tiles });
    } else {
      droppedPatients.push({
        patient: patient.patientId,
        why:
          dropped.get(patient.patientId) ??
          `no tiles: none of its ${patient.slides.length} slide(s) has usable outputs`,
      });
    }
  }
  droppedPatients.sort((a, b) => patientIndex.get(a.patient)! - patientIndex.get(b.patient)!);
  const cohort: Cohort = {
    outcomes,
    patients,
    excludedSlides,
    droppedPatients,
    unlistedSlides,
    embeddingDim,
    ...(isDefaultVectors(embeddingVectors) ? {} : { embeddingVectors: [...embeddingVectors] }),
    models,
  };
  refuseEmptyDataset(cohort, manifest.rows.length);

  const assignment = new Map<string, string>();
  for (const p of patients) assignment.set(p.patient.patientId, c.assignment[p.patient.patientId]);
  const pins = new Map(Object.entries(c.pins)) as Map<string, Split>;
  const sets = (kind === 'labeled' ? [...SPLITS] : [INFERENCE]).filter((s) => [...assignment.values()].includes(s));
  const unusedPins = [...pins.keys()].filter((p) => !assignment.has(p)).sort();
  for (const list of Object.values(shards)) list.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  const result: MergeResult = { manifest, cohort, config, kind, sets, assignment, pins, unusedPins, shards };

  for (const list of Object.values(shards))
    for (const w of list)
      placeAtomic(join(inputs.shardRepo, w.file), join(inputs.outDir, w.file), inputs.link ? 'symlink' : 'copy');
  writeFileAtomic(join(inputs.outDir, SPLITS_CSV), formatSplitsCsv(assignment, pins));
  writeFileAtomic(join(inputs.outDir, DATASET_JSON), JSON.stringify(buildDatasetJson(result), null, 2) + '\n');
  writeFileAtomic(join(inputs.outDir, REPORT_MD), buildReport(result));
  const page = writeQcPage({
    result,
    placed: c.assignment,
    shardRepo: inputs.shardRepo,
    shards: qcShards,
    outDir: inputs.outDir,
    link: inputs.link,
  });
  log.info('dataset written', {
    qc_scripts: page.scripts,
    qc_cards_inline: page.inline,
    qc_pictures: page.pictures,
    report_html_bytes: page.bytes,
    sets: sets.join(','),
    patients: assignment.size,
    tiles: patients.reduce((a, p) => a + p.tiles, 0),
    shards: Object.values(shards).reduce((a, l) => a + l.length, 0),
  });
  return result;
}
