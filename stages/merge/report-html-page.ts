/**
 * The QC page's fixed parts: its style, the filter script, and the handler that counts shard card scripts that
 * could not be loaded. Inline, so the page needs no server and no network. The cards come from the shards'
 * scripts (`qc/<set>-NNNNN.js` beside the page); the filter script orders them by manifest line and shows and hides.
 */
export const PAGE_STYLE = `
:root { --in: #1b7f3b; --out: #a86b00; --err: #b3261e; --line: #d9d9de; --muted: #5f6368; }
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1f1f1f; background: #f6f6f8; }
header, main > section { padding: 12px 20px; }
header { background: #fff; border-bottom: 1px solid var(--line); }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 18px 0 8px; }
.summary { margin: 0; color: var(--muted); }
.filters { position: sticky; top: 0; z-index: 1; display: flex; flex-wrap: wrap; gap: 12px; align-items: center;
  padding: 8px 20px; background: #fff; border-bottom: 1px solid var(--line); }
.filters label { color: var(--muted); }
.filters select { margin-left: 4px; }
#shown { margin-left: auto; color: var(--muted); }
#missing { margin: 0; padding: 6px 20px; background: #fdecea; color: var(--err); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 12px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px; display: flex;
  flex-direction: column; gap: 6px; min-width: 0; }
.card[hidden], tr[hidden] { display: none; }
.card h3 { font-size: 14px; margin: 0; display: flex; justify-content: space-between; gap: 8px; word-break: break-all; }
.card .meta { margin: 0; color: var(--muted); font-size: 12px; }
.badge { font-size: 11px; font-weight: 600; padding: 1px 6px; border-radius: 8px; color: #fff; white-space: nowrap; }
.badge.in { background: var(--in); } .badge.left-out { background: var(--out); } .badge.error { background: var(--err); }
.card.error { border-color: var(--err); } .card.left-out { border-color: var(--out); }
.pic { width: 100%; height: auto; max-height: 240px; object-fit: contain; background: #eee; border-radius: 3px; }
.nopic { height: 90px; display: flex; align-items: center; justify-content: center; text-align: center; padding: 6px;
  background: #f0f0f2; color: var(--muted); border-radius: 3px; font-size: 12px; }
.counts { display: flex; flex-wrap: wrap; gap: 2px 12px; margin: 0; font-size: 12px; }
.counts dt { color: var(--muted); } .counts dd { margin: 0 0 0 -8px; font-variant-numeric: tabular-nums; }
.hist { display: flex; gap: 8px; align-items: end; font-size: 11px; color: var(--muted); }
.hist svg { flex: none; background: #fafafa; border-bottom: 1px solid #999; }
.hist .kept { fill: var(--in); } .hist .dropped { fill: #c9a3a0; } .hist .at { stroke: #333; stroke-dasharray: 2 2; }
.note { margin: 0; font-size: 12px; padding: 6px; border-radius: 3px; word-break: break-word; }
.card.error .note { background: #fdecea; color: var(--err); } .card.left-out .note { background: #fff4e0; color: #6b4400; }
table { border-collapse: collapse; background: #fff; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.legend { font-size: 12px; color: var(--muted); }
.legend b.k { color: var(--in); } .legend b.d { color: var(--err); } .legend b.m { color: #d07a00; }
`;

/** In the head, before the card scripts: a script tag's onerror names what is missing in the page's header. */
export const MISSING_SCRIPT = `
function tessellaMissing(s) {
  var p = document.getElementById('missing');
  var n = (window.tessellaMissingCount = (window.tessellaMissingCount || 0) + 1);
  p.hidden = false;
  p.textContent = n + ' shard card file(s) could not be loaded (e.g. ' + s.getAttribute('src') +
    '): keep the qc/ folder beside report.html.';
}
`;

/** Cards in manifest order; filters by set, center and status: cards match all three; patient rows match set and center. */
export const PAGE_SCRIPT = `
(function () {
  var want = { set: '', center: '', status: '' };
  var cards = Array.prototype.slice.call(document.querySelectorAll('.card'));
  var box = document.querySelector('.cards');
  cards.sort(function (a, b) { return a.getAttribute('data-line') - b.getAttribute('data-line'); });
  cards.forEach(function (c) { box.appendChild(c); });
  var rows = Array.prototype.slice.call(document.querySelectorAll('tr[data-center]'));
  var shown = document.getElementById('shown');
  function match(el, keys) {
    return keys.every(function (k) { return !want[k] || el.getAttribute('data-' + k) === want[k]; });
  }
  function apply() {
    var n = 0;
    cards.forEach(function (c) { var ok = match(c, ['set', 'center', 'status']); c.hidden = !ok; if (ok) n++; });
    rows.forEach(function (r) { r.hidden = !match(r, ['set', 'center']); });
    shown.textContent = n + ' of ' + cards.length + ' slides shown';
  }
  Array.prototype.forEach.call(document.querySelectorAll('select[data-filter]'), function (s) {
    s.addEventListener('change', function () { want[s.getAttribute('data-filter')] = s.value; apply(); });
  });
  apply();
})();
`;
