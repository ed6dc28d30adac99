/**
 * `/report.html`: the cohort QC page a reviewer opens instead of reading report.md. Static files, no server and no
 * network (style and script inline): per slide a card with tile-detect's kept/dropped overlay scaled down
 * (`qc/<slide>.jpg` beside the page, referenced, so the page stays small), the grid/kept/dropped counts, the
 * tissue-fraction histogram and, for a bad slide, the error and its reason; then report.md's tables per set, center,
 * label and patient; filters by set, center and status. A pure function of its inputs, like every output.
 *
 * The cards are rendered per shard, by merge-shard, into `qc/<set>-NNNNN.js` (a script that inserts them where its
 * tag is; script tags load from file:// where fetch does not), so a new slide re-renders one shard's cards and the
 * last step writes one tag per shard: it reads no card. It renders inline only the cards the shards could not
 * (a slide no shard lists yet, a shard whose records the cohort leaves out for their embedding dimension). One card's
 * HTML: stages/cohort/qc-card-html.ts.
 */
import { esc, renderCard, type CardMeta } from '../cohort/qc-card-html.js';
import type { QcCard } from '../cohort/qc-card-file.js';
import type { SlideLine } from '../cohort/slide-line.js';
import { MISSING_SCRIPT, PAGE_SCRIPT, PAGE_STYLE } from './report-html-page.js';
import {
  centersTable,
  droppedPatientsTable,
  excludedSlidesTable,
  labelsTable,
  patientsTable,
  setsTable,
  slideLines,
  type Cell,
  type Table,
} from './report-tables.js';
import { centerRenumbering } from './report.js';
import type { MergeResult } from './summary.js';

export interface HtmlInputs {
  result: MergeResult;
  /** every manifest patient -> the set merge-assign placed it in (also the patients with no tiles yet) */
  placed: Record<string, string>;
  /** the shards' card scripts, relative to the page (`qc/<set>-NNNNN.js`), in order */
  scripts: string[];
  /** the manifest slides whose cards no script holds: rendered here, each with its QC card when known */
  inline: Set<string>;
  cards: Map<string, QcCard>;
  /** QC pieces that could not be placed, named */
  problems?: string[];
}

/** The tag that loads a shard's cards; a script that cannot be loaded is counted in the page's header. */
export const cardsScriptTag = (href: string) =>
  `<script src="${esc(encodeURI(href))}" onerror="tessellaMissing(this)"></script>`;

const isNumber = (v: Cell) => typeof v === 'number';

/** A table; `rowAttrs` gives a row's data attributes (filters). */
function htmlTable(t: Table, rowAttrs?: (row: Cell[], i: number) => Record<string, string>): string {
  const head = `<tr>${t.head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>`;
  const rows = t.rows.map((r, i) => {
    const attrs = rowAttrs
      ? Object.entries(rowAttrs(r, i))
          .map(([k, v]) => ` data-${k}="${esc(v)}"`)
          .join('')
      : '';
    return `<tr${attrs}>${r.map((c) => `<td${isNumber(c) ? ' class="num"' : ''}>${esc(c)}</td>`).join('')}</tr>`;
  });
  return `<table><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`;
}

function select(name: string, label: string, values: string[]): string {
  const options = [
    `<option value="">all</option>`,
    ...values.map((v) => `<option value="${esc(v)}">${esc(v)}</option>`),
  ];
  return `<label>${esc(label)}<select data-filter="${esc(name)}">${options.join('')}</select></label>`;
}

export function buildReportHtml(inputs: HtmlInputs): string {
  const { result } = inputs;
  const { manifest, cohort } = result;
  const lines = slideLines(result);
  const patients = new Map(manifest.patients.map((p) => [p.patientId, p]));
  const metaOf = (l: SlideLine): CardMeta => {
    const p = patients.get(l.patientId);
    return { center: p?.center, label: p?.label, set: inputs.placed[l.patientId] };
  };
  const inline = lines.filter((l) => inputs.inline.has(l.slideId));
  const byStatus = (s: string) => lines.filter((l) => l.status === s).length;
  const inRecords = result.assignment.size;
  const setsPlaced = [...new Set(Object.values(inputs.placed))].sort();
  const summary =
    `${lines.length} slide(s): ${byStatus('in')} in, ${byStatus('left out')} left out, ${byStatus('error')} with an error; ` +
    `${inRecords} of ${manifest.patients.length} patient(s) in records; embedding dimension ${cohort.embeddingDim}; ` +
    `${result.kind === 'labeled' ? `labels ${manifest.labelNames.join(', ')}` : 'an inference set (no labels)'}.`;

  const out: string[] = [];
  out.push(
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
    '<title>tessella cohort QC</title>',
    `<style>${PAGE_STYLE}</style><script>${MISSING_SCRIPT}</script></head><body>`,
    `<header><h1>tessella cohort QC</h1><p class="summary">${esc(summary)}</p></header>`,
    `<nav class="filters">${select('set', 'set', setsPlaced)}${select('center', 'center', manifest.centerNames)}` +
      `${select('status', 'status', ['in', 'left out', 'error'])}<span id="shown">${lines.length} slides</span></nav>`,
    `<p id="missing" hidden></p>`,
    '<main>',
    '<section id="slides"><h2>Slides</h2>',
    '<p class="legend">Pictures: tile-detect\'s overlay, scaled down: <b class="k">kept tiles outlined green</b>, ' +
      '<b class="d">dropped tiles with tissue shaded red</b>, <b class="m">tiles cut by MAX_TILES outlined orange</b>. ' +
      'Histogram: grid tiles per tissue fraction (square-root scale), the dashed line is the keep threshold.</p>',
    `<div class="cards">`,
    ...inline.map((l) => renderCard(l, metaOf(l), inputs.cards.get(l.slideId))),
    ...inputs.scripts.map(cardsScriptTag),
    `</div></section>`,
  );

  out.push('<section id="tables"><h2>Sets</h2>', htmlTable(setsTable(result)));
  out.push('<h2>Patients per center and set</h2>', htmlTable(centersTable(result)));
  const renumbered = centerRenumbering(manifest.centerNames, manifest.centerIds, manifest.centerIdRule);
  if (renumbered) out.push(`<p>${esc(renumbered.replace(/\*\*/g, ''))}</p>`);
  if (result.kind === 'labeled') out.push('<h2>Patients per label and set</h2>', htmlTable(labelsTable(result)));
  if (cohort.droppedPatients.length) out.push('<h2>Patients dropped</h2>', htmlTable(droppedPatientsTable(result)));
  if (cohort.excludedSlides.length) out.push('<h2>Slides left out</h2>', htmlTable(excludedSlidesTable(result)));
  if (cohort.unlistedSlides.length) {
    out.push('<h2>Slides with outputs but no manifest row</h2><p>Add them to the manifest to include them.</p>');
    out.push(`<ul>${cohort.unlistedSlides.map((s) => `<li>${esc(s)}</li>`).join('')}</ul>`);
  }
  const pt = patientsTable(result);
  out.push(
    '<h2>Per patient</h2>',
    htmlTable(pt, (_r, i) => {
      const p = manifest.patients[i];
      return { set: inputs.placed[p.patientId] ?? '', center: p.center };
    }),
  );
  if (inputs.problems?.length) {
    out.push(
      '<h2>QC pieces that could not be placed</h2>',
      `<ul>${inputs.problems.map((p) => `<li>${esc(p)}</li>`).join('')}</ul>`,
    );
  }
  out.push('</section></main>', `<script>${PAGE_SCRIPT}</script>`, '</body></html>', '');
  return out.join('\n');
}
