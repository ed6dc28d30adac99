/**
 * What a merge run decided, in one value: the input to dataset.json and report.md (both pure functions of it).
 */
import type { EmbeddingVector, SetInfo } from '../../shared/contract/index.js';
import { type ManifestSlideMatch, matchManifestToSlides } from '../../shared/manifest-match.js';
import type { Manifest, Patient } from '../cohort/manifest.js';
import type { MergeConfig } from '../cohort/merge-config.js';
import type { ExcludedSlide, SlideOutcome } from '../cohort/merge-file-types.js';
import type { Split } from '../cohort/splits.js';

export type OkSlide = Extract<SlideOutcome, { status: 'ok' }>;

export interface CohortPatient {
  patient: Patient;
  /** Slides that go into the record, manifest order. */
  slides: OkSlide[];
  tiles: number;
}

/**
 * The cohort as merge writes it: manifest patients joined with what the stages produced per slide. Slides without
 * usable outputs are left out of their patient; patients left with no tiles are dropped; slides with outputs but no
 * manifest row are listed. Every decision carries its reason, for report.md and dataset.json.
 */
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

export interface MergeResult {
  manifest: Manifest;
  cohort: Cohort;
  config: MergeConfig;
  kind: 'labeled' | 'inference';
  /** Sets in writing order: train, val, eval (those with patients) or inference. */
  sets: string[];
  /** patient -> set. */
  assignment: Map<string, string>;
  pins: Map<string, Split>;
  /** Pins naming patients that are not in this dataset (kept in splits.csv). */
  unusedPins: string[];
  /** set -> its shards (`<set>/<set>-NNNNN-of-MMMMM.tfrecord`, records, bytes), file order */
  shards: Record<string, SetInfo['shards']>;
}

type Counts = { patients: number; slides: number; tiles: number };
const zero = (): Counts => ({ patients: 0, slides: 0, tiles: 0 });

export function setInfo(result: MergeResult, set: string): SetInfo {
  const info: SetInfo = { ...zero(), shards: result.shards[set] ?? [], centers: {}, labels: {} };
  for (const p of result.cohort.patients) {
    if (result.assignment.get(p.patient.patientId) !== set) continue;
    const add = (c: Counts) => {
      c.patients++;
      c.slides += p.slides.length;
      c.tiles += p.tiles;
    };
    add(info);
    add((info.centers[p.patient.center] ??= zero()));
    if (p.patient.label !== undefined) add((info.labels[p.patient.label] ??= zero()));
  }
  const sorted = <T>(r: Record<string, T>) =>
    Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { ...info, centers: sorted(info.centers), labels: sorted(info.labels) };
}

/**
 * The manifest's rows against the slides that reached merge: a row whose slide has no outputs at all (no such slide
 * in the slides repo, or one named otherwise) and the slides with outputs but no row, with near misses between them.
 */
export function manifestMatch(result: MergeResult): ManifestSlideMatch {
  const present = result.cohort.outcomes
    // a slide tile-detect never saw, with no output from any stage: no such slide in the slides repo
    .filter(({ outcome: o }) => !(o.status === 'excluded' && o.missing && !o.detect))
    .map(({ outcome }) => outcome.slideId);
  return matchManifestToSlides(
    result.manifest.rows.map((r) => r.imageId),
    [...present, ...result.cohort.unlistedSlides],
  );
}
