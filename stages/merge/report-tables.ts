/**
 * The report's tables as data (header and rows of plain values), so `report.md` and `report.html` show the same
 * numbers: per set, per center and set, per label and set, what was left out, per patient and per slide.
 */
import type { SlideOutcome } from '../cohort/merge-file-types.js';
import { slideLineOf, type SlideLine } from '../cohort/slide-line.js';
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
