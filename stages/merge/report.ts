/**
 * `/report.md`: what went in and what did not, at a glance. Summary and per set and center first (what a person
 * checks), then what was left out and why, then per patient and per slide (with the manifest's other columns).
 */
import { describeSlideError } from '../../shared/slide-error.js';
import { setInfo, type MergeResult } from './summary.js';

const cell = (v: unknown) => String(v ?? '').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
const row = (cells: unknown[]) => `| ${cells.map(cell).join(' | ')} |`;
const table = (head: string[], rows: unknown[][]) => [row(head), row(head.map(() => '---')), ...rows.map(row)].join('\n');
const pct = (n: number, d: number) => (d > 0 ? `${((100 * n) / d).toFixed(1)}%` : '-');

/**
 * center_id is the manifest's own number only when every center is an integer; otherwise every center is numbered
 * by its sorted place, which silently changes centers written as numbers. Say so, with the mapping.
 */
function centerRenumbering(names: string[], ids: Record<string, number>, rule: MergeResult['manifest']['centerIdRule']): string | undefined {
  if (rule !== 'sorted-index') return undefined;
  const numeric = names.filter((n) => /^-?\d{1,15}$/.test(n));
  if (numeric.length === 0) return undefined;
  const text = names.filter((n) => !numeric.includes(n));
  const why = text.length
    ? `not every center is an integer (${text.slice(0, 3).map((n) => `'${n}'`).join(', ')}${text.length > 3 ? ', ...' : ''})`
    : 'two centers are written as the same integer';
  const moved = numeric.filter((n) => ids[n] !== Number(n)).map((n) => `${n} -> ${ids[n]}`);
  return (
    `**center_id renumbered:** ${why}, so center_id is each center's place in sorted order` +
    (moved.length ? `; centers written as numbers changed: ${moved.slice(0, 10).join(', ')}${moved.length > 10 ? ', ...' : ''}` : '') +
    '. Write every center as an integer (or every one as a name) to choose the numbers.'
  );
}

export function buildReport(result: MergeResult): string {
  const { manifest, cohort, config } = result;
  const sets = result.sets.map((s) => ({ name: s, info: setInfo(result, s) }));
  const total = sets.reduce((a, s) => a + s.info.patients, 0);
  const out: string[] = [];

  out.push('# tessella dataset report', '');
  out.push(
    `${result.kind === 'labeled' ? `Labelled dataset (labels: ${manifest.labelNames.join(', ')})` : 'Inference set (the manifest has no labels)'}; ` +
      `${total} patients in records, embedding dimension ${cohort.embeddingDim}, ` +
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

  out.push('## Sets', '');
  out.push(table(['set', 'patients', 'fraction', 'slides', 'tiles', 'shards'], sets.map(({ name, info }) => [name, info.patients, pct(info.patients, total), info.slides, info.tiles, info.shards.length])));
  out.push('');

  out.push('## Patients per center and set', '');
  out.push(
    table(
      ['center', 'center_id', ...result.sets, 'total'],
      manifest.centerNames.map((c) => {
        const counts = sets.map((s) => s.info.centers[c]?.patients ?? 0);
        const t = counts.reduce((a, b) => a + b, 0);
        return [c, manifest.centerIds[c], ...counts.map((n) => `${n} (${pct(n, t)})`), t];
      }),
    ),
  );
  out.push('');
  const renumbered = centerRenumbering(manifest.centerNames, manifest.centerIds, manifest.centerIdRule);
  if (renumbered) out.push(renumbered, '');

  if (result.kind === 'labeled') {
    out.push('## Patients per label and set', '');
    out.push(
      table(
        ['label', 'index', ...result.sets],
        manifest.labelNames.map((l, i) => [l, i, ...sets.map((s) => s.info.labels[l]?.patients ?? 0)]),
      ),
    );
    out.push('');
    const pinned = result.pins.size - result.unusedPins.length;
    out.push(
      `Splits: fractions ${config.SPLIT_FRACTIONS.join('/')} by patient, stratified by center, seed '${config.SPLIT_SEED}'; ` +
        `${pinned} patient(s) pinned by the manifest's ${config.PINS_FILE}` +
        (result.unusedPins.length ? `, ${result.unusedPins.length} pin(s) for patients not in this dataset (kept in splits.csv)` : '') +
        '. Commit `/splits.csv` back to the manifest repo to freeze this assignment.',
      '',
    );
  }

  if (cohort.droppedPatients.length) {
    out.push('## Patients dropped', '');
    out.push(table(['patient', 'why'], cohort.droppedPatients.map((p) => [p.patient, p.why])), '');
  }
  if (cohort.excludedSlides.length) {
    out.push('## Slides left out', '');
    out.push(table(['slide', 'patient', 'stage', 'why'], cohort.excludedSlides.map((s) => [s.slide, s.patient, s.stage ?? '', s.why])), '');
  }
  if (cohort.unlistedSlides.length) {
    out.push('## Slides with outputs but no manifest row', '');
    out.push('Add them to the manifest to include them.', '', ...cohort.unlistedSlides.map((s) => `- ${s}`), '');
  }

  out.push('## Per patient', '');
  const inCohort = new Map(cohort.patients.map((c) => [c.patient.patientId, c]));
  const excludedWhy = new Map(cohort.excludedSlides.map((e) => [e.slide, e.why]));
  out.push(
    table(
      ['patient', 'center', ...(result.kind === 'labeled' ? ['label'] : []), 'set', 'slides used', 'tiles'],
      manifest.patients.map((p) => {
        const cp = inCohort.get(p.patientId);
        return [p.patientId, p.center, ...(result.kind === 'labeled' ? [p.label] : []), result.assignment.get(p.patientId) ?? 'dropped', `${cp?.slides.length ?? 0}/${p.slides.length}`, cp?.tiles ?? 0];
      }),
    ),
  );
  out.push('');

  out.push('## Per slide', '');
  out.push('Grid, kept and dropped come from tile-detect; tiles are those in the record.', '');
  const extra = manifest.extraColumns;
  const rowOf = new Map(manifest.rows.map((r) => [r.imageId, r]));
  out.push(
    table(
      ['slide', 'patient', 'status', 'grid', 'kept', 'dropped', 'tiles', 'note', ...extra],
      cohort.outcomes.map(({ patientId, outcome: o }) => {
        const d = o.detect;
        const dropped = d?.dropped ? Object.entries(d.dropped).map(([k, v]) => `${k}: ${v}`).join(', ') : '';
        const status = o.status === 'ok' ? 'in' : o.status === 'error' ? 'error' : 'left out';
        const note = o.status === 'error' ? describeSlideError(o.error) : o.status === 'excluded' ? o.why : excludedWhy.get(o.slideId) ?? '';
        const tiles = o.status === 'ok' && !excludedWhy.has(o.slideId) ? o.tiles : 0;
        return [o.slideId, patientId, note && o.status === 'ok' ? 'left out' : status, d?.grid ?? '', d?.kept ?? '', dropped, tiles, note, ...extra.map((c) => rowOf.get(o.slideId)?.extra[c] ?? '')];
      }),
    ),
  );
  out.push('');
  return out.join('\n');
}
