/**
 * Manifest rows against slides: rows that name no slide, slides that no row names, and the near misses between
 * them, ids equal after Unicode normalization (macOS writes `é` decomposed, Excel composed) or after case folding
 * (`s1` vs `S1`). The pipelines join by the id as written, so a near miss is two ids to the pipelines; this says
 * which, so the user can rename one. Pure, for merge's report and dataset.json and for an end-of-run summary.
 */

export interface NearMiss {
  /** the id as the manifest row writes it */
  row: string;
  /** the id as the slides repo names the slide */
  slide: string;
  /** 'unicode': equal once both are NFC; 'case': equal once both are NFC and case-folded */
  differ: 'unicode' | 'case';
}

export interface ManifestSlideMatch {
  /** manifest ids with no slide, in manifest order */
  rowsWithoutSlide: string[];
  /** slide ids with no manifest row, sorted */
  slidesWithoutRow: string[];
  /** pairs of a row without a slide and a slide without a row that are the same id but for form or case */
  nearMisses: NearMiss[];
}

/** Compares the manifest's ids with the slides' ids (each as written) and pairs up the near misses. */
export function matchManifestToSlides(manifestIds: Iterable<string>, slideIds: Iterable<string>): ManifestSlideMatch {
  const slides = new Set(slideIds);
  const rows = [...new Set(manifestIds)];
  const listed = new Set(rows);
  const rowsWithoutSlide = rows.filter((id) => !slides.has(id));
  const slidesWithoutRow = [...slides].filter((id) => !listed.has(id)).sort();
  const byForm = new Map<string, string[]>();
  const byCase = new Map<string, string[]>();
  for (const s of slidesWithoutRow) {
    const nfc = s.normalize('NFC');
    (byForm.get(nfc) ?? byForm.set(nfc, []).get(nfc)!).push(s);
    const folded = nfc.toLowerCase();
    (byCase.get(folded) ?? byCase.set(folded, []).get(folded)!).push(s);
  }
  const nearMisses: NearMiss[] = [];
  for (const row of rowsWithoutSlide) {
    const nfc = row.normalize('NFC');
    const sameForm = byForm.get(nfc);
    if (sameForm) {
      for (const slide of sameForm) nearMisses.push({ row, slide, differ: 'unicode' });
      continue;
    }
    for (const slide of byCase.get(nfc.toLowerCase()) ?? []) nearMisses.push({ row, slide, differ: 'case' });
  }
  return { rowsWithoutSlide, slidesWithoutRow, nearMisses };
}

/** `'a', 'b', 'c' and 2 more`: the first few of a list, for one line of a report or terminal. */
export function firstFew(ids: string[], few = 5): string {
  const shown = ids
    .slice(0, few)
    .map((id) => JSON.stringify(id))
    .join(', ');
  return ids.length > few ? `${shown} and ${ids.length - few} more` : shown;
}

/** The characters beyond ASCII as code points (`U+0065 U+0301`): two ids that print alike differ here. */
function codePoints(id: string): string {
  return (
    [...id]
      .filter((c) => c.codePointAt(0)! > 0x7f)
      .map((c) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`)
      .join(' ') || 'ASCII'
  );
}

/** The match in a few lines for a person (empty when every row has its slide and every slide its row). */
export function describeManifestMatch(m: ManifestSlideMatch, few = 5): string[] {
  const lines: string[] = [];
  if (m.rowsWithoutSlide.length)
    lines.push(`${m.rowsWithoutSlide.length} manifest row(s) with no slide: ${firstFew(m.rowsWithoutSlide, few)}`);
  if (m.slidesWithoutRow.length)
    lines.push(`${m.slidesWithoutRow.length} slide(s) with no manifest row: ${firstFew(m.slidesWithoutRow, few)}`);
  for (const n of m.nearMisses.slice(0, few))
    lines.push(
      n.differ === 'case'
        ? `row ${JSON.stringify(n.row)} and slide ${JSON.stringify(n.slide)} differ only in upper/lower case: ` +
            'rename one so they match'
        : `row ${JSON.stringify(n.row)} (${codePoints(n.row)}) and slide ${JSON.stringify(n.slide)} ` +
            `(${codePoints(n.slide)}) differ only in Unicode form, composed or decomposed accents (compared in NFC): ` +
            'rename one so they match',
    );
  if (m.nearMisses.length > few) lines.push(`${m.nearMisses.length - few} more near miss(es) in dataset.json`);
  return lines;
}
