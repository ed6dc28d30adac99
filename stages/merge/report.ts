/**
 * `/report.md`: what went in and what did not, at a glance. Summary and per set and center first (what a person
 * checks), then what was left out and why, then per patient and per slide (with the manifest's other columns).
 */
import {
  centersTable,
  droppedPatientsTable,
  excludedSlidesTable,
  labelsTable,
  patientsTable,
  setsOf,
  setsTable,
  slidesTable,
  type Table,
} from './report-tables.js';
import { describeManifestMatch } from '../../shared/manifest-match.js';
import { manifestMatch, type MergeResult } from './summary.js';

const cell = (v: unknown) =>
  String(v ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\r?\n/g, ' ');
const row = (cells: unknown[]) => `| ${cells.map(cell).join(' | ')} |`;
const table = (head: string[], rows: unknown[][]) =>
  [row(head), row(head.map(() => '---')), ...rows.map(row)].join('\n');
const md = (t: Table) => table(t.head, t.rows);

/**
 * center_id is the manifest's own number only when every center is an integer; otherwise every center is numbered
 * by its sorted place, which silently changes centers written as numbers. Say so, with the mapping.
 */
export function centerRenumbering(
  names: string[],
  ids: Record<string, number>,
  rule: MergeResult['manifest']['centerIdRule'],
): string | undefined {
  if (rule !== 'sorted-index') return undefined;
  const numeric = names.filter((n) => /^-?\d{1,15}$/.test(n));
  if (numeric.length === 0) return undefined;
  const text = names.filter((n) => !numeric.includes(n));
  const why = text.length
    ? `not every center is an integer (${text
        .slice(0, 3)
        .map((n) => `'${n}'`)
        .join(', ')}${text.length > 3 ? ', ...' : ''})`
    : 'two centers are written as the same integer';
  const moved = numeric.filter((n) => ids[n] !== Number(n)).map((n) => `${n} -> ${ids[n]}`);
  return (
    `**center_id renumbered:** ${why}, so center_id is each center's place in sorted order` +
    (moved.length
      ? `; centers written as numbers changed: ${moved.slice(0, 10).join(', ')}${moved.length > 10 ? ', ...' : ''}`
      : '') +
    '. Write every center as an integer (or every one as a name) to choose the numbers.'
  );
}

export function buildReport(result: MergeResult): string {
  const { manifest, cohort, config } = result;
  const sets = setsOf(result);
  const total = sets.reduce((a, s) => a + s.info.patients, 0);
  const out: string[] = [];

  out.push('# tessella dataset report', '');
  out.push(
    `${result.kind === 'labeled' ? `Labelled dataset (labels: ${manifest.labelNames.join(', ')})` : 'Inference set (the manifest has no labels)'}; ` +
      `${total} patients in records, embedding dimension ${cohort.embeddingDim}, ` +
      (cohort.embeddingVectors
        ? `pooled vectors ${cohort.embeddingVectors.map((v) => `embedding_${v}`).join(', ')}, `
        : '') +
      `${config.COMPRESSION === 'gzip' ? 'GZIP-compressed' : 'uncompressed'} TFRecords.`,
    '',
  );
  const notIn = cohort.excludedSlides.length + cohort.droppedPatients.length + cohort.unlistedSlides.length;
  out.push(
    notIn === 0
      ? 'Every manifest slide went in.'
      : `**Left out:** ${cohort.excludedSlides.length} slide(s), ${cohort.droppedPatients.length} patient(s) with no tiles, ${cohort.unlistedSlides.length} slide(s) with outputs but no manifest row (details below).`,
    '',
  );
  const unmatched = describeManifestMatch(manifestMatch(result));
  if (unmatched.length) out.push('**Manifest and slides:**', '', ...unmatched.map((l) => `- ${l}`), '');

  out.push('## Sets', '');
  out.push(md(setsTable(result)));
  out.push('');

  out.push('## Patients per center and set', '');
  out.push(md(centersTable(result)));
  out.push('');
  const renumbered = centerRenumbering(manifest.centerNames, manifest.centerIds, manifest.centerIdRule);
  if (renumbered) out.push(renumbered, '');

  if (result.kind === 'labeled') {
    out.push('## Patients per label and set', '');
    out.push(md(labelsTable(result)));
    out.push('');
    const pinned = result.pins.size - result.unusedPins.length;
    out.push(
      `Splits: fractions ${config.SPLIT_FRACTIONS.join('/')} by patient, stratified by center, seed '${config.SPLIT_SEED}'; ` +
        `${pinned} patient(s) pinned by the manifest's ${config.PINS_FILE}` +
        (result.unusedPins.length
          ? `, ${result.unusedPins.length} pin(s) for patients not in this dataset (kept in splits.csv)`
          : '') +
        '. Commit `/splits.csv` back to the manifest repo to freeze this assignment.',
      '',
    );
  }

  if (cohort.droppedPatients.length) {
    out.push('## Patients dropped', '');
    out.push(md(droppedPatientsTable(result)), '');
  }
  if (cohort.excludedSlides.length) {
    out.push('## Slides left out', '');
    out.push(md(excludedSlidesTable(result)), '');
  }
  // a warning, not a failure: the slides are in the records, at a resolution the model was not trained at
  const geometry = cohort.outcomes.flatMap(({ outcome: o }) =>
    o.status === 'ok' && o.geometry ? [`- ${o.slideId}: ${o.geometry}`] : [],
  );
  if (geometry.length) {
    out.push('## Tile geometry warnings', '');
    out.push(
      `${geometry.length} slide(s) are in the records at a resolution the embed model's card says it was not trained at:`,
      '',
      ...geometry,
      '',
    );
  }
  if (cohort.unlistedSlides.length) {
    out.push('## Slides with outputs but no manifest row', '');
    out.push('Add them to the manifest to include them.', '', ...cohort.unlistedSlides.map((s) => `- ${s}`), '');
  }

  out.push('## Per patient', '');
  out.push(md(patientsTable(result)));
  out.push('');

  out.push('## Per slide', '');
  out.push('Grid, kept and dropped come from tile-detect; tiles are those in the record.', '');
  out.push(md(slidesTable(result)));
  out.push('');
  return out.join('\n');
}
