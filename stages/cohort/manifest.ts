/**
 * The cohort manifest: `manifest.csv` with one row per slide (`image_id, patient_id, center_id`, an optional
 * `label` and an optional `mpp`, a resolution that overrides the slide's own), column names mapped for cohorts that
 * call them otherwise (`slide`, `patient`, `site`, `subtype`).
 * Parsed with a real CSV parser (quotes, BOM, CRLF), each row checked with zod, rows grouped into patients.
 * Every problem is collected and reported with its line and column, so one run shows them all.
 * Its pieces (reading the file, the CSV, finding the columns, an mpp cell, where a cell is)
 * are also manifest-mpp's, which reads only the image id and mpp columns: the two stages word a problem alike.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import * as z from 'zod';
import { MANIFEST_CSV, MPP_RANGE } from '../../shared/contract/index.js';

export class ManifestError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(
      `${file}: ${problems.length === 1 ? problems[0] : `${problems.length} problems:\n  ${problems.join('\n  ')}`}`,
    );
    this.name = 'ManifestError';
  }
}

/** Which CSV column holds each field. */
export interface ColumnMapping {
  image_id: string;
  patient_id: string;
  center_id: string;
  label: string;
  /** optional: micrometres per pixel, overriding the slide's own for physical tiles */
  mpp: string;
}
export type Field = keyof ColumnMapping;

/** Where each mapping comes from, so errors can say what to change. */
const MAPPING_ENV: Record<Field, string> = {
  image_id: 'IMAGE_COLUMN',
  patient_id: 'PATIENT_COLUMN',
  center_id: 'CENTER_COLUMN',
  label: 'LABEL_COLUMN',
  mpp: 'MPP_COLUMN',
};

/** Columns a manifest may leave out. */
const OPTIONAL: ReadonlySet<Field> = new Set(['label', 'mpp']);

/** `auto`: labelled when the label column exists and holds values; `labeled` requires it; `inference` ignores it. */
export type DatasetKind = 'auto' | 'labeled' | 'inference';

export interface ManifestRow {
  /** 1-based line of the CSV where the record ends (the header is line 1). */
  line: number;
  imageId: string;
  patientId: string;
  center: string;
  label?: string;
  /** micrometres per pixel when the row gives one (else the slide's own is used) */
  mpp?: number;
  /** The other columns, kept for the report. */
  extra: Record<string, string>;
}

export interface Patient {
  patientId: string;
  center: string;
  label?: string;
  /** Slide ids in manifest order. */
  slides: string[];
  /** Line of the patient's first row. */
  line: number;
}

export interface Manifest {
  file: string;
  rows: ManifestRow[];
  /** Patients in order of first appearance. */
  patients: Patient[];
  labeled: boolean;
  /** Sorted label names (labels are written as indices into this list); empty for an inference set. */
  labelNames: string[];
  /** Sorted center names. */
  centerNames: string[];
  /** center name -> the int64 written as `center_id` (see centerIds). */
  centerIds: Record<string, number>;
  /** How centers were numbered. */
  centerIdRule: 'manifest-integer' | 'sorted-index';
  extraColumns: string[];
  mapping: ColumnMapping;
}

const idCell = (what: string) =>
  z
    .string()
    .transform((s) => s.trim())
    .pipe(z.string().min(1, { error: `empty ${what}; every row needs one` }));

/** An mpp cell: micrometres per pixel in MPP_RANGE, or empty (undefined: the slide's own resolution). */
export const MppCell = z.string().transform((raw, ctx) => {
  const s = raw.trim();
  if (s === '') return undefined;
  // A plain decimal only: Number() would also take '0x10' or 'Infinity'.
  const n = /^\+?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s) ? Number(s) : Number.NaN;
  if (n >= MPP_RANGE.min && n <= MPP_RANGE.max) return n;
  ctx.addIssue({
    code: 'custom',
    message:
      `'${s}' is not a resolution; expected micrometres per pixel, a number from ${MPP_RANGE.min} to ` +
      `${MPP_RANGE.max} (about 0.25 at 40x, 0.5 at 20x), or empty for the slide's own`,
  });
  return z.NEVER;
});

const RowSchema = z.object({
  image_id: idCell('image id'),
  patient_id: idCell('patient id'),
  center_id: idCell('center id'),
  label: z
    .string()
    .transform((s) => s.trim())
    .optional(),
  mpp: MppCell.optional(),
});

/** Where a cell is, for a problem: `line 3, column 'slide' (image_id)` (the field only when the column is renamed). */
export function cellWhere(line: number, column: string, field: Field): string {
  return `line ${line}, column '${column}'${column !== field ? ` (${field})` : ''}`;
}

/**
 * The manifest file's text, from the manifest repo's folder; a missing file is a ManifestError saying how to commit
 * it.
 */
export function readManifestText(manifestDir: string, file: string): string {
  const path = join(manifestDir, file);
  if (!existsSync(path)) {
    throw new ManifestError(file, [
      `not found in the manifest repo; commit it with: tessella put file manifest@master:/${file} -f <your csv>`,
    ]);
  }
  return readFileSync(path, 'utf8');
}

/**
 * Where each mapped column is in the header; a problem for each required one that is missing (naming the header
 * and the variable that maps it) and for a header name given twice among `checkDuplicates` (all names by default).
 */
export function locateColumns<F extends Field>(
  header: string[],
  mapping: Pick<ColumnMapping, F>,
  required: (field: F) => boolean,
  checkDuplicates: (name: string) => boolean = () => true,
): { index: Partial<Record<F, number>>; problems: string[] } {
  const index: Partial<Record<F, number>> = {};
  const problems: string[] = [];
  // a header read as one column was likely written with a separator tessella does not read (`|`, spaces)
  const oneColumn =
    header.length === 1 ? ` The header reads as one column: separate columns with ',', ';' or a tab.` : '';
  for (const field of Object.keys(mapping) as F[]) {
    const i = header.indexOf(mapping[field]);
    if (i >= 0) index[field] = i;
    else if (required(field)) {
      problems.push(
        `missing column '${mapping[field]}' (${field}); the header has: ${header.join(', ')}. ` +
          `Name the column that holds it with ${MAPPING_ENV[field]}.${oneColumn}`,
      );
    }
  }
  const duplicateHeaders = header.filter((h, i) => header.indexOf(h) !== i && checkDuplicates(h));
  if (duplicateHeaders.length)
    problems.push(`line 1: duplicate column names: ${[...new Set(duplicateHeaders)].join(', ')}`);
  return { index, problems };
}

/** Separators a manifest may use: Excel writes `;` where the decimal mark is a comma, tab for "text" exports. */
export const CSV_SEPARATORS = [',', ';', '\t'] as const;

/**
 * The separator of a CSV file, from its header line as Python's csv.Sniffer guesses it: the candidate found most
 * often outside quotes; a comma when none is (a one-column file) or on a tie.
 */
export function sniffSeparator(text: string): (typeof CSV_SEPARATORS)[number] {
  const counts = new Map<string, number>(CSV_SEPARATORS.map((c) => [c, 0]));
  let quoted = false;
  for (const ch of text.replace(/^\uFEFF/, '')) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && (ch === '\n' || ch === '\r')) break;
    else if (!quoted && counts.has(ch)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  }
  let best: (typeof CSV_SEPARATORS)[number] = ',';
  for (const c of CSV_SEPARATORS) if ((counts.get(c) ?? 0) > (counts.get(best) ?? 0)) best = c;
  return best;
}

/**
 * Parse CSV text into records with their line numbers; CSV syntax errors name the file and line. The separator is
 * `,`, `;` or tab, read off the header line. `rowsAre` says what one row stands for, in the empty file's message.
 */
export function parseCsv(
  text: string,
  file: string,
  rowsAre = 'slide',
): { header: string[]; records: { line: number; cells: string[] }[] } {
  let parsed: { record: string[]; info: { lines: number } }[];
  try {
    parsed = parse(text, {
      bom: true,
      delimiter: sniffSeparator(text),
      info: true,
      skip_empty_lines: true,
      relax_quotes: false,
    }) as unknown as typeof parsed;
  } catch (err) {
    throw new ManifestError(file, [`not valid CSV: ${(err as Error).message}`]);
  }
  if (parsed.length === 0)
    throw new ManifestError(file, [`the file is empty; it needs a header row and one row per ${rowsAre}`]);
  const header = parsed[0].record.map((h) => h.trim());
  return { header, records: parsed.slice(1).map((p) => ({ line: p.info.lines, cells: p.record })) };
}

export interface ParseManifestOptions {
  mapping: ColumnMapping;
  kind?: DatasetKind;
  file?: string;
}

export function parseManifest(text: string, options: ParseManifestOptions): Manifest {
  const file = options.file ?? MANIFEST_CSV;
  const kind = options.kind ?? 'auto';
  const { mapping } = options;
  const { header, records } = parseCsv(text, file);
  const where = (line: number, field: Field) => cellWhere(line, mapping[field], field);

  const { index, problems } = locateColumns(
    header,
    mapping,
    (field) => !OPTIONAL.has(field) || (field === 'label' && kind === 'labeled'),
  );
  if (problems.length) throw new ManifestError(file, problems);
  if (records.length === 0) throw new ManifestError(file, ['no rows after the header; add one row per slide']);

  const useLabels = kind !== 'inference' && index.label !== undefined;
  const mappedIdx = new Set(Object.values(index));
  const extraColumns = header.filter((_, i) => !mappedIdx.has(i));

  const rows: ManifestRow[] = [];
  for (const { line, cells } of records) {
    const raw: Record<string, string | undefined> = {};
    for (const field of Object.keys(index) as Field[]) raw[field] = cells[index[field]!];
    const result = RowSchema.safeParse(raw);
    if (!result.success) {
      for (const issue of result.error.issues)
        problems.push(`${where(line, issue.path[0] as Field)}: ${issue.message}`);
      continue;
    }
    const extra: Record<string, string> = {};
    header.forEach((h, i) => {
      if (!mappedIdx.has(i)) extra[h] = cells[i] ?? '';
    });
    const r = result.data;
    rows.push({
      line,
      imageId: r.image_id,
      patientId: r.patient_id,
      center: r.center_id,
      label: useLabels ? r.label : undefined,
      ...(r.mpp !== undefined ? { mpp: r.mpp } : {}),
      extra,
    });
  }

  // Labels: all or nothing. No values at all in `auto` means an inference set.
  const labeled = useLabels && rows.some((r) => r.label);
  if (kind === 'labeled' && !labeled && problems.length === 0) {
    problems.push(
      `column '${mapping.label}' (label) has no values, but DATASET_KIND=labeled; fill it in or use DATASET_KIND=auto`,
    );
  }
  if (labeled) {
    for (const r of rows) {
      if (!r.label)
        problems.push(
          `${where(r.line, 'label')}: empty label; label every row, or set DATASET_KIND=inference for an unlabelled set`,
        );
    }
  } else {
    for (const r of rows) delete r.label;
  }

  const firstLineOfImage = new Map<string, number>();
  for (const r of rows) {
    const first = firstLineOfImage.get(r.imageId);
    if (first !== undefined)
      problems.push(
        `${where(r.line, 'image_id')}: duplicate image id '${r.imageId}' (first on line ${first}); a slide belongs to one row`,
      );
    else firstLineOfImage.set(r.imageId, r.line);
  }

  const byPatient = new Map<string, Patient>();
  for (const r of rows) {
    const p = byPatient.get(r.patientId);
    if (!p) {
      byPatient.set(r.patientId, {
        patientId: r.patientId,
        center: r.center,
        label: r.label,
        slides: [r.imageId],
        line: r.line,
      });
      continue;
    }
    if (p.center !== r.center) {
      problems.push(
        `${where(r.line, 'center_id')}: patient '${r.patientId}' is in center '${r.center}' here but '${p.center}' on line ${p.line}; a patient belongs to one center`,
      );
    }
    if (labeled && p.label !== r.label) {
      problems.push(
        `${where(r.line, 'label')}: patient '${r.patientId}' has label '${r.label}' here but '${p.label}' on line ${p.line}; a patient has one label`,
      );
    }
    if (!p.slides.includes(r.imageId)) p.slides.push(r.imageId);
  }
  if (problems.length) throw new ManifestError(file, problems);

  const patients = [...byPatient.values()];
  const centerNames = [...new Set(rows.map((r) => r.center))].sort();
  const labelNames = labeled ? [...new Set(rows.map((r) => r.label!))].sort() : [];
  const { ids: centerIds, rule: centerIdRule } = numberCenters(centerNames);
  return { file, rows, patients, labeled, labelNames, centerNames, centerIds, centerIdRule, extraColumns, mapping };
}

/**
 * `center_id` is an int64: the manifest's value when every center is written as an integer, else the index in the
 * sorted names (mixing the two rules could give two centers the same number).
 */
export function numberCenters(sortedNames: string[]): { ids: Record<string, number>; rule: Manifest['centerIdRule'] } {
  const allIntegers = sortedNames.every((n) => /^-?\d{1,15}$/.test(n));
  const ids: Record<string, number> = {};
  if (allIntegers && new Set(sortedNames.map(Number)).size === sortedNames.length) {
    for (const n of sortedNames) ids[n] = Number(n);
    return { ids, rule: 'manifest-integer' };
  }
  sortedNames.forEach((n, i) => (ids[n] = i));
  return { ids, rule: 'sorted-index' };
}
