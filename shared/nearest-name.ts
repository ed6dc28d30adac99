/**
 * The known name a mistyped one was probably meant to be: equal ignoring case, or a few edits away (a letter left
 * out, added, changed, or two swapped). Used to refuse near misses with "did you mean ...?" and let the rest pass.
 */

/** Edits (insert, delete, substitute, swap two neighbours) between a and b: optimal string alignment distance. */
export function editDistance(a: string, b: string): number {
  const cols = b.length + 1;
  // three rows of the table (two back, one back, this one): d[i][j] is the edits between a's first i and b's first j
  let back2 = new Uint16Array(cols);
  let back1 = Uint16Array.from({ length: cols }, (_, j) => j);
  let row = new Uint16Array(cols);
  for (let i = 1; i <= a.length; i++) {
    row[0] = i;
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(back1[j] + 1, row[j - 1] + 1, back1[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, back2[j - 2] + 1);
      row[j] = d;
    }
    [back2, back1, row] = [back1, row, back2];
  }
  return back1[b.length];
}

/**
 * Edits a name of this length may be away from a known one and still count as a typo of it: none below 5
 * characters (short names collide by chance), 1 up to 7, 2 from 8.
 */
function allowedEdits(length: number): number {
  if (length < 5) return 0;
  return length < 8 ? 1 : 2;
}

/** The known name `name` is a near miss of (case aside, or within a few edits), or undefined when none is close. */
export function nearestName(name: string, known: Iterable<string>): string | undefined {
  const folded = name.toUpperCase();
  let best: { name: string; edits: number } | undefined;
  for (const candidate of known) {
    const allowed = allowedEdits(Math.min(name.length, candidate.length));
    // a difference in length is at least that many edits: most pairs are ruled out without the table
    if (Math.abs(name.length - candidate.length) > allowed) continue;
    const edits = editDistance(folded, candidate.toUpperCase());
    if (edits > allowed) continue;
    if (!best || edits < best.edits) best = { name: candidate, edits };
  }
  return best?.name;
}
