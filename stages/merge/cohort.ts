/**
 * The cohort as merge will write it: manifest patients joined with what the stages produced per slide. Slides
 * without usable outputs are left out of their patient; patients left with no tiles are dropped; slides with outputs
 * but no manifest row are listed. Every decision carries its reason, for report.md and dataset.json.
 */
import type { EmbeddingVector } from '../../shared/contract/index.js';
import type { Manifest, Patient } from './manifest.js';
import { slideFolders, surveySlide, type SlideOutcome, type StageDirs } from './slide-outputs.js';

export type OkSlide = Extract<SlideOutcome, { status: 'ok' }>;

export interface CohortPatient {
  patient: Patient;
  /** Slides that go into the record, manifest order. */
  slides: OkSlide[];
  tiles: number;
}

export interface ExcludedSlide {
  slide: string;
  patient: string;
  why: string;
  stage?: string;
}

export interface Cohort {
  /** Every manifest slide's outcome, manifest order. */
  outcomes: { patientId: string; line: number; outcome: SlideOutcome }[];
  patients: CohortPatient[];
  excludedSlides: ExcludedSlide[];
  droppedPatients: { patient: string; why: string }[];
  /** Slide folders in a stage's output that no manifest row names. */
  unlistedSlides: string[];
  embeddingDim: number;
  /** The pooled vectors of the records, when not the default avg and max. */
  embeddingVectors?: EmbeddingVector[];
  /** stage -> metadata key -> distinct values, for keys that identify a model (sha256, card, model). */
  models: Record<string, Record<string, unknown[]>>;
}

const MODEL_KEY = /sha256|card|model/i;

export function collectModelMeta(into: Record<string, unknown[]>, meta: Record<string, string>): void {
  for (const [key, value] of Object.entries(meta)) {
    if (!MODEL_KEY.test(key)) continue;
    let parsed: unknown = value;
    if (/^\s*[{[]/.test(value)) {
      try {
        parsed = JSON.parse(value);
      } catch {
        /* keep the string */
      }
    }
    const list = (into[key] ??= []);
    if (!list.some((v) => JSON.stringify(v) === JSON.stringify(parsed))) list.push(parsed);
  }
}

export function buildCohort(manifest: Manifest, dirs: StageDirs): Cohort {
  const outcomes = manifest.rows.map((r) => ({
    patientId: r.patientId,
    line: r.line,
    outcome: surveySlide(dirs, r.imageId),
  }));
  const byId = new Map(outcomes.map((o) => [o.outcome.slideId, o.outcome]));

  // One embedding dimension per dataset: the most common one; slides of another model's size are left out.
  const dims = new Map<number, number>();
  for (const { outcome } of outcomes)
    if (outcome.status === 'ok') dims.set(outcome.dim, (dims.get(outcome.dim) ?? 0) + 1);
  const embeddingDim = [...dims.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]?.[0] ?? 0;

  const excludedSlides: ExcludedSlide[] = [];
  const patients: CohortPatient[] = [];
  const droppedPatients: Cohort['droppedPatients'] = [];
  const models: Cohort['models'] = {};
  for (const patient of manifest.patients) {
    const slides: OkSlide[] = [];
    for (const slideId of patient.slides) {
      const o = byId.get(slideId)!;
      if (o.status === 'error') {
        excludedSlides.push({
          slide: slideId,
          patient: patient.patientId,
          why: `${o.error.what}: ${o.error.why}`,
          stage: o.error.stage,
        });
      } else if (o.status === 'excluded') {
        excludedSlides.push({ slide: slideId, patient: patient.patientId, why: o.why });
      } else if (o.dim !== embeddingDim) {
        excludedSlides.push({
          slide: slideId,
          patient: patient.patientId,
          why: `embedding dimension ${o.dim} differs from the cohort's ${embeddingDim} (another model?); re-run embed`,
        });
      } else {
        slides.push(o);
        collectModelMeta((models.embed ??= {}), o.embedMeta);
        collectModelMeta((models.histogram ??= {}), o.histogramMeta);
      }
    }
    const tiles = slides.reduce((a, s) => a + s.tiles, 0);
    if (tiles === 0) {
      droppedPatients.push({
        patient: patient.patientId,
        why: `no tiles: none of its ${patient.slides.length} slide(s) has usable outputs`,
      });
    } else {
      patients.push({ patient, slides, tiles });
    }
  }

  const listed = new Set(manifest.rows.map((r) => r.imageId));
  const present = new Set([
    ...slideFolders(dirs.embed),
    ...slideFolders(dirs.histogram),
    ...slideFolders(dirs.tileDetect),
  ]);
  const unlistedSlides = [...present].filter((s) => !listed.has(s)).sort();
  return { outcomes, patients, excludedSlides, droppedPatients, unlistedSlides, embeddingDim, models };
}
