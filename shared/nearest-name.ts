/**
 * The known name a mistyped one was probably meant to be: equal ignoring case, or a few edits away (a letter left
 * out, added, changed, or two swapped). Used to refuse near misses with "did you mean ...?" and let the rest pass.
 */

/** Edits (insert, delete, substitute, swap two neighbours) between a and b: optimal string alignment distance. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  // d[i][j]: edits between a's first i characters and b's first j
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : i)),
  );
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
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
    const edits = editDistance(folded, candidate.toUpperCase());
    if (edits > allowedEdits(Math.min(name.length, candidate.length))) continue;
    if (!best || edits < best.edits) best = { name: candidate, edits };
  }
  return best?.name;
}
