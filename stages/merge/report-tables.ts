/**
 * The report's tables as data (header and rows of plain values), so `report.md` and `report.html` show the same
 * numbers: per set, per center and set, per label and set, what was left out, per patient and per slide.
 */
import { describeSlideError } from '../../shared/slide-error.js';
import type { SlideOutcome } from './slide-outputs.js';
import { setInfo, type MergeResult } from './summary.js';

export type Cell = string | number;
export interface Table {
  head: string[];
  rows: Cell[][];
}

export const pct = (n: number, d: number) => (d > 0 ? `${((100 * n) / d).toFixed(1)}%` : '-');

export function setsOf(result: MergeResult) {
  return result.sets.map((s) => ({ name: s, info: setInfo(result, s) }));
}

export function setsTable(result: MergeResult): Table {
  const sets = setsOf(result);
  const total = sets.reduce((a, s) => a + s.info.patients, 0);
  return {
    head: ['set', 'patients', 'fraction', 'slides', 'tiles', 'shards'],
    rows: sets.map(({ name, info }) => [
      name,
      info.patients,
      pct(info.patients, total),
      info.slides,
      info.tiles,
      info.shards.length,
    ]),
  };
}

export function centersTable(result: MergeResult): Table {
  const sets = setsOf(result);
  const { manifest } = result;
  return {
    head: ['center', 'center_id', ...result.sets, 'total'],
    rows: manifest.centerNames.map((c) => {
      const counts = sets.map((s) => s.info.centers[c]?.patients ?? 0);
      const t = counts.reduce((a, b) => a + b, 0);
      return [c, manifest.centerIds[c], ...counts.map((n) => `${n} (${pct(n, t)})`), t];
    }),
  };
}

export function labelsTable(result: MergeResult): Table {
  const sets = setsOf(result);
  return {
    head: ['label', 'index', ...result.sets],
    rows: result.manifest.labelNames.map((l, i) => [l, i, ...sets.map((s) => s.info.labels[l]?.patients ?? 0)]),
  };
}

export function droppedPatientsTable(result: MergeResult): Table {
  return { head: ['patient', 'why'], rows: result.cohort.droppedPatients.map((p) => [p.patient, p.why]) };
}

export function excludedSlidesTable(result: MergeResult): Table {
  return {
    head: ['slide', 'patient', 'stage', 'why'],
    rows: result.cohort.excludedSlides.map((s) => [s.slide, s.patient, s.stage ?? '', s.why]),
  };
}

export function patientsTable(result: MergeResult): Table {
  const { manifest, cohort } = result;
  const labeled = result.kind === 'labeled';
  const inCohort = new Map(cohort.patients.map((c) => [c.patient.patientId, c]));
  return {
    head: ['patient', 'center', ...(labeled ? ['label'] : []), 'set', 'slides used', 'tiles'],
    rows: manifest.patients.map((p) => {
      const cp = inCohort.get(p.patientId);
      const set = result.assignment.get(p.patientId) ?? 'dropped';
      return [
        p.patientId,
        p.center,
        ...(labeled ? [p.label ?? ''] : []),
        set,
        `${cp?.slides.length ?? 0}/${p.slides.length}`,
        cp?.tiles ?? 0,
      ];
    }),
  };
}

export type SlideStatus = 'in' | 'left out' | 'error';

/** One manifest slide as the report shows it: its status, the counts, and the note saying why it is not in. */
export interface SlideLine {
  slideId: string;
  patientId: string;
  /** the manifest line of its row (the QC page orders its cards by it) */
  line: number;
  status: SlideStatus;
  outcome: SlideOutcome;
  /** tiles in the record (0 when left out) */
  tiles: number;
  /** the error or the reason it is left out; '' when in */
  note: string;
}

/** One slide's line from its outcome and, when it was left out of the records after all, why (`excludedWhy`). */
export function slideLineOf(patientId: string, line: number, o: SlideOutcome, excludedWhy?: string): SlideLine {
  const note =
    o.status === 'error' ? describeSlideError(o.error) : o.status === 'excluded' ? o.why : (excludedWhy ?? '');
  const status: SlideStatus = o.status === 'error' ? 'error' : o.status === 'ok' && !note ? 'in' : 'left out';
  const tiles = o.status === 'ok' && excludedWhy === undefined ? o.tiles : 0;
  return { slideId: o.slideId, patientId, line, status, outcome: o, tiles, note };
}

export function slideLines(result: MergeResult): SlideLine[] {
  const excludedWhy = new Map(result.cohort.excludedSlides.map((e) => [e.slide, e.why]));
  return result.cohort.outcomes.map(({ patientId, line, outcome: o }) =>
    slideLineOf(patientId, line, o, excludedWhy.get(o.slideId)),
  );
}

export function droppedText(d: SlideOutcome['detect']): string {
  return d?.dropped
    ? Object.entries(d.dropped)
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ')
    : '';
}

/** The per-slide table's own columns; a manifest column of the same name (often `note`) is shown as `note (manifest)`. */
const SLIDE_COLUMNS = ['slide', 'patient', 'status', 'grid', 'kept', 'dropped', 'tiles', 'note'];

export function slidesTable(result: MergeResult): Table {
  const extra = result.manifest.extraColumns;
  const rowOf = new Map(result.manifest.rows.map((r) => [r.imageId, r]));
  return {
    head: [...SLIDE_COLUMNS, ...extra.map((c) => (SLIDE_COLUMNS.includes(c) ? `${c} (manifest)` : c))],
    rows: slideLines(result).map((l) => {
      const d = l.outcome.detect;
      return [
        l.slideId,
        l.patientId,
        l.status,
        d?.grid ?? '',
        d?.kept ?? '',
        droppedText(d),
        l.tiles,
        l.note,
        ...extra.map((c) => rowOf.get(l.slideId)?.extra[c] ?? ''),
      ];
    }),
  };
}
