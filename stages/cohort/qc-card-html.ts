/**
 * One slide's QC card as HTML (an `<article>`: its picture, counts, tissue-fraction histogram and note), and a shard's
 * cards as the script report.html loads. merge-shard renders its shard's cards; the last step renders only those no
 * shard could (report-html.ts).
 */
import { QC_CARDS_DIR } from '../../shared/contract/files.js';
import type { QcCard } from './qc-card-file.js';
import type { SlideLine } from './slide-line.js';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const esc = (v: unknown) => String(v ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]);
const statusClass = (s: string) => s.replace(/ /g, '-');

/** The picture's path from the page: one path segment per slide id, escaped for a URL. */
export const pictureHref = (slideId: string) => `${QC_CARDS_DIR}/${encodeURIComponent(slideId)}.jpg`;

const HIST_W = 120;
const HIST_H = 36;

/** Tissue fractions as bars on a square-root scale (background tiles outnumber the rest by far). */
function histogramSvg(card: QcCard | undefined): string {
  const h = card?.histogram;
  if (!h || h.counts.length === 0) return '';
  const max = Math.max(1, ...h.counts);
  const bw = HIST_W / h.counts.length;
  const keepAt = card.keepAt ?? 1;
  const bars = { kept: '', dropped: '' };
  h.counts.forEach((c, i) => {
    if (c === 0) return;
    const bh = Math.max(1, Math.round((Math.sqrt(c) / Math.sqrt(max)) * HIST_H));
    const x = +(i * bw).toFixed(1);
    // A bin is drawn as kept when its lower edge is at or above the keep threshold.
    bars[i / h.counts.length >= keepAt - 1e-9 ? 'kept' : 'dropped'] +=
      `M${x} ${HIST_H}v-${bh}h${+bw.toFixed(1)}v${bh}z`;
  });
  const at = +(keepAt * HIST_W).toFixed(1);
  const title = `tiles per tissue fraction (${h.bins} bins${h.keptOnly ? ', kept tiles only: tiles.json predates the grid histogram' : ''}): ${h.counts.join(' ')}`;
  return (
    `<div class="hist"><svg width="${HIST_W}" height="${HIST_H}" viewBox="0 0 ${HIST_W} ${HIST_H}" role="img"><title>${esc(title)}</title>` +
    (bars.dropped ? `<path class="dropped" d="${bars.dropped}"/>` : '') +
    (bars.kept ? `<path class="kept" d="${bars.kept}"/>` : '') +
    (card.keepAt !== undefined ? `<line class="at" x1="${at}" x2="${at}" y1="0" y2="${HIST_H}"/>` : '') +
    `</svg><span>tissue fraction 0&ndash;1${card.keepAt !== undefined ? `, kept &ge; ${card.keepAt}` : ''}${h.keptOnly ? ' (kept tiles only)' : ''}</span></div>`
  );
}

function picture(line: SlideLine, card: QcCard | undefined): string {
  if (card?.picture) {
    const { width, height } = card.picture;
    return `<img class="pic" src="${esc(pictureHref(line.slideId))}" width="${width}" height="${height}" loading="lazy" alt="${esc(`${line.slideId}: kept tiles outlined green, dropped tissue shaded red`)}">`;
  }
  const why =
    card?.pictureProblem ??
    (line.status === 'error'
      ? 'no picture: the slide could not be read'
      : 'no picture: tile-detect has no output for it');
  return `<div class="nopic">${esc(why)}</div>`;
}

function counts(line: SlideLine): string {
  const d = line.outcome.detect;
  const items: [string, string | number][] = [];
  if (d?.grid !== undefined) items.push(['grid', d.grid]);
  if (d?.kept !== undefined) items.push(['kept', d.kept]);
  for (const [k, v] of Object.entries(d?.dropped ?? {}))
    items.push([k === 'total' ? 'dropped' : `dropped (${k.replace(/_/g, ' ')})`, v]);
  items.push(['in record', line.tiles]);
  return `<dl class="counts">${items.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>`;
}

/** What a card says of the slide's patient: center, label and set. */
export interface CardMeta {
  center?: string;
  label?: string;
  set?: string;
}

/** One slide's card (an `<article>`); `data-line` is its manifest line, by which the page orders the cards. */
export function renderCard(line: SlideLine, meta: CardMeta, card: QcCard | undefined): string {
  const set = meta.set ?? '';
  const text = [
    `patient ${line.patientId}`,
    meta.center !== undefined ? `center ${meta.center}` : '',
    meta.label !== undefined ? `label ${meta.label}` : '',
    set ? `set ${set}` : '',
  ]
    .filter(Boolean)
    .join(' · ');
  const cls = statusClass(line.status);
  return (
    `<article class="card ${cls}" id="slide-${esc(encodeURIComponent(line.slideId))}" data-line="${line.line}" data-set="${esc(set)}" data-center="${esc(meta.center)}" data-status="${esc(line.status)}">` +
    `<h3><span class="id">${esc(line.slideId)}</span><span class="badge ${cls}">${esc(line.status)}</span></h3>` +
    `<p class="meta">${esc(text)}</p>${picture(line, card)}${counts(line)}${histogramSvg(card)}` +
    (line.note ? `<p class="note">${esc(line.note)}</p>` : '') +
    `</article>`
  );
}

/** A shard's cards as the script report.html loads: it inserts them where its tag is, as the page is read. */
export function cardsScript(cards: string[]): string {
  return `document.currentScript.insertAdjacentHTML('beforebegin', ${JSON.stringify(cards.join('\n'))});\n`;
}
