/**
 * How verbs write: results to stdout (tables, or with `-o json` one object per line for lists and one
 * indented object for inspects), notes about what happened to stderr, so stdout stays machine-readable.
 */

export function out(line = ''): void {
  process.stdout.write(line + '\n');
}

/** A note for the user (what was done, a hint): stderr. */
export function note(line: string): void {
  process.stderr.write(line + '\n');
}

/** A list as JSON: one object per line, as pachctl streams them. */
export function printJsonLines(items: unknown[]): void {
  for (const i of items) out(JSON.stringify(i));
}

/** One object as indented JSON (the inspect verbs). */
export function printJson(item: unknown): void {
  out(JSON.stringify(item, null, 2));
}

/** Columns padded to their widest cell; the last column unpadded. */
export function table(headers: string[], rows: (string | number)[][]): void {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  for (const r of cells)
    out(
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
        .join('  ')
        .trimEnd(),
    );
}

/**
 * After a page of a list: when the page is full there may be more, so say (on stderr) which flag gets the next
 * one.
 */
export function nextPageHint(shown: number, limit: number | undefined, next: () => string): void {
  if (limit !== undefined && shown > 0 && shown === limit) note(`next page: ${next()}`);
}
