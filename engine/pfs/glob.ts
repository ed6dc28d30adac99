/**
 * Pachyderm's glob patterns (a doublestar-like syntax, as its fork of gobwas/glob with '/' as separator):
 *   `*` any run of characters except '/', `**` any run including '/', `?` one character except '/',
 *   `[abc]` `[a-z]` `[!a-z]` `[^a-z]` character classes, `{a,b}` alternatives (nestable, may hold patterns),
 *   `(...)` capture groups, referenced as `$1`, `$2` ... by `joinOn` and `groupBy`, `\x` a literal x.
 * Patterns are rooted: `*` is read as `/*`; a trailing '/' is ignored; `/` (or empty) is the whole repo.
 * Globs match files AND folders: every folder that holds a file is a candidate path.
 */

export class GlobError extends Error {
  constructor(
    readonly pattern: string,
    what: string,
  ) {
    super(`invalid glob ${JSON.stringify(pattern)}: ${what}`);
    this.name = 'GlobError';
  }
}

export interface CompiledGlob {
  /** the pattern as written */
  pattern: string;
  /** true when the pattern is the whole repo (`/`) */
  root: boolean;
  /** number of capture groups */
  groups: number;
  /** the number of path segments every match has, when the pattern fixes it (no `**`, braces, classes or escapes) */
  depth?: number;
  regex: RegExp;
  /** null when the path does not match, else the capture groups ($1 at index 1; index 0 is the whole path) */
  match(path: string): string[] | null;
}

/** Rooted, without a trailing slash; '/' for the root. */
export function cleanGlob(pattern: string): string {
  let p = pattern.trim();
  if (!p.startsWith('/')) p = '/' + p;
  while (p.length > 1 && p.endsWith('/') && !p.endsWith('\\/')) p = p.slice(0, -1);
  return p;
}

/**
 * The folder (or file) every match of a pattern lies at or under: its leading segments that hold no pattern
 * character ('/' when the first one does). `/cohort.json` -> `/cohort.json`, `/slides/(*).json` -> `/slides`.
 */
export function globLiteralPrefix(pattern: string): string {
  const segments = cleanGlob(pattern).split('/').slice(1);
  const literal: string[] = [];
  for (const seg of segments) {
    if (seg === '' || /[*?[\]{}()!+@\\]/.test(seg)) break;
    literal.push(seg);
  }
  return '/' + literal.join('/');
}

const cache = new Map<string, CompiledGlob>();

export function compileGlob(pattern: string): CompiledGlob {
  const hit = cache.get(pattern);
  if (hit) return hit;
  const clean = cleanGlob(pattern);
  const root = clean === '/';
  let groups = 0;
  let re = '';
  let i = 0;
  const braces: number[] = []; // open '{' nesting (positions, for the error message)
  let parens = 0;
  while (i < clean.length) {
    const c = clean[i];
    if (c === '\\') {
      if (i + 1 >= clean.length) throw new GlobError(pattern, 'a trailing backslash escapes nothing');
      re += escapeRegex(clean[i + 1]);
      i += 2;
      continue;
    }
    if (c === '*') {
      if (clean[i + 1] === '*') {
        re += '.*';
        i += 2;
        while (clean[i] === '*') i++;
      } else {
        re += '[^/]*';
        i++;
      }
      continue;
    }
    if (c === '?') {
      re += '[^/]';
      i++;
      continue;
    }
    if (c === '[') {
      const end = findClassEnd(clean, i);
      if (end < 0) throw new GlobError(pattern, `'[' at ${i} has no closing ']'`);
      let body = clean.slice(i + 1, end);
      let negate = false;
      if (body.startsWith('!') || body.startsWith('^')) {
        negate = true;
        body = body.slice(1);
      }
      if (body === '') throw new GlobError(pattern, `empty character class at ${i}`);
      const cls = body.replace(/\\(.)/g, '$1').replace(/[\\\]^]/g, (m) => '\\' + m);
      // a class never matches the separator, like `*` and `?`
      re += negate ? `(?!/)[^${cls}]` : `(?!/)[${cls}]`;
      i = end + 1;
      continue;
    }
    if (c === '{') {
      braces.push(i);
      re += '(?:';
      i++;
      continue;
    }
    if (c === ',' && braces.length > 0) {
      re += '|';
      i++;
      continue;
    }
    if (c === '}' && braces.length > 0) {
      braces.pop();
      re += ')';
      i++;
      continue;
    }
    if (c === '(') {
      parens++;
      groups++;
      re += '(';
      i++;
      continue;
    }
    if (c === ')') {
      if (parens === 0) throw new GlobError(pattern, `')' at ${i} closes no '('`);
      parens--;
      re += ')';
      i++;
      continue;
    }
    re += escapeRegex(c);
    i++;
  }
  if (braces.length > 0) throw new GlobError(pattern, `'{' at ${braces[0]} has no closing '}'`);
  if (parens > 0) throw new GlobError(pattern, `a '(' has no closing ')'`);
  const regex = new RegExp(`^${re}$`, 's');
  const fixed = !root && !/\*\*|[{}[\]\\]/.test(clean);
  const compiled: CompiledGlob = {
    pattern,
    root,
    groups,
    depth: fixed ? clean.split('/').length - 1 : undefined,
    regex,
    match(path: string) {
      if (root) return path === '/' ? [path] : null;
      const m = regex.exec(path);
      return m ? Array.from(m, (g) => g ?? '') : null;
    },
  };
  if (cache.size > 1000) cache.clear();
  cache.set(pattern, compiled);
  return compiled;
}

function findClassEnd(s: string, start: number): number {
  let j = start + 1;
  if (s[j] === '!' || s[j] === '^') j++;
  if (s[j] === ']') j++; // a leading ']' is literal
  for (; j < s.length; j++) {
    if (s[j] === '\\') {
      j++;
      continue;
    }
    if (s[j] === ']') return j;
  }
  return -1;
}

function escapeRegex(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/**
 * Substitutes `$1`, `$2`, ... (or `${1}`) in a `joinOn`/`groupBy` template by the capture groups of a match.
 * A reference to a group the glob does not have is an error (Pachyderm would silently give '').
 */
const CAPTURE_REF = /\$(?:\{(\d+)\}|(\d+))/g;

/** The capture groups a `joinOn`/`groupBy` template refers to (`$2-$1` -> [2, 1]). */
export function captureRefs(template: string): number[] {
  return Array.from(template.matchAll(CAPTURE_REF), (m) => Number(m[1] ?? m[2]));
}

export function expandCaptures(template: string, captures: string[], pattern = ''): string {
  return template.replace(CAPTURE_REF, (_m, braced: string | undefined, plain: string | undefined) => {
    const n = Number(braced ?? plain);
    if (n >= captures.length) {
      throw new GlobError(pattern, `${template} refers to capture group $${n} but the glob has ${captures.length - 1}`);
    }
    return captures[n];
  });
}

/** Every folder that holds one of these files (no root), and the files themselves, sorted. */
export function candidatePaths(filePaths: readonly string[]): { path: string; dir: boolean }[] {
  const dirs = new Set<string>();
  for (const f of filePaths) {
    let i = f.lastIndexOf('/');
    while (i > 0) {
      const d = f.slice(0, i);
      if (dirs.has(d)) break;
      dirs.add(d);
      i = f.lastIndexOf('/', i - 1);
    }
  }
  const out: { path: string; dir: boolean }[] = [];
  for (const d of dirs) out.push({ path: d, dir: true });
  for (const f of filePaths) if (!dirs.has(f)) out.push({ path: f, dir: false });
  out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return out;
}

export interface GlobMatch {
  /** the matched path: '/' for the root, else without a trailing slash */
  path: string;
  dir: boolean;
  /** capture groups ($1 at index 1) */
  captures: string[];
}

/**
 * The files and folders of a file list that a glob matches, in path order (as `pachctl glob file`).
 * `/` matches the root once when the list is not empty; an empty repo matches nothing.
 */
export function globPaths(filePaths: readonly string[], pattern: string): GlobMatch[] {
  const g = compileGlob(pattern);
  if (g.root) return filePaths.length > 0 ? [{ path: '/', dir: true, captures: ['/'] }] : [];
  const out: GlobMatch[] = [];
  for (const c of g.depth !== undefined ? candidatesAtDepth(filePaths, g.depth) : candidatePaths(filePaths)) {
    const m = g.match(c.path);
    if (m) out.push({ path: c.path, dir: c.dir, captures: m });
  }
  return out;
}

/** The candidates with exactly `depth` segments (a pattern of fixed depth matches no others), sorted. */
function candidatesAtDepth(filePaths: readonly string[], depth: number): { path: string; dir: boolean }[] {
  const seen = new Map<string, boolean>();
  for (const f of filePaths) {
    let at = 0;
    let k = 0;
    // the index of the (depth + 1)-th '/', if any: the candidate is the path up to it (a folder)
    while (k <= depth) {
      at = f.indexOf('/', at + (k === 0 ? 0 : 1));
      if (at < 0) break;
      k++;
    }
    if (k < depth) continue;
    if (at < 0) {
      if (k === depth) seen.set(f, seen.get(f) ?? false);
      continue;
    }
    seen.set(f.slice(0, at), true);
  }
  const out = Array.from(seen, ([path, dir]) => ({ path, dir }));
  out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return out;
}
