/**
 * A spec file's documents: YAML or JSON, one or several (YAML `---`, or JSON objects one after the other as
 * `pachctl create pipeline -f` accepts), with camelCase or snake_case keys (pachctl accepts both). Keys are
 * converted to camelCase before validation, except the keys inside `env`, `nodeSelector`, `labels` and
 * `annotations`, which are the user's names.
 */
import { parseAllDocuments } from 'yaml';
import { where } from './hints.js';
import { SpecError } from './spec-error.js';

/** Objects whose keys are the user's own names, never converted. */
const VERBATIM_KEYS = new Set(['env', 'nodeSelector', 'labels', 'annotations']);

export function snakeToCamel(key: string): string {
  return key.replace(/_+([a-zA-Z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/**
 * Deep copy with object keys converted to camelCase, except inside `env`, `nodeSelector`, `labels`,
 * `annotations` (copied as they are), and null fields left out. Throws when one object names a field twice
 * (`datum_tries` and `datumTries`).
 */
export function camelizeKeys(value: unknown, where = ''): unknown {
  if (Array.isArray(value)) return value.map((v, i) => camelizeKeys(v, `${where}[${i}]`));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === null) continue; // protobuf JSON: null is the field left out (`description:` with nothing after it)
    const ck = snakeToCamel(k);
    const field = where ? `${where}.${ck}` : ck;
    if (Object.hasOwn(out, ck)) {
      throw new SpecError(`${field}: given twice (as snake_case and camelCase); keep one`, undefined, field);
    }
    out[ck] =
      VERBATIM_KEYS.has(ck) && v !== null && typeof v === 'object' && !Array.isArray(v)
        ? { ...v }
        : camelizeKeys(v, field);
  }
  return out;
}

/** The documents of a spec file (YAML or JSON, one or several) as written, keys not converted. */
export function readRawDocuments(text: string, file: string): unknown[] {
  return looksLikeJson(text) ? parseJsonOrFlowYaml(text, file) : parseYamlDocs(text, file);
}

/** Raw documents of a spec file (YAML or JSON, one or several), keys converted to camelCase. */
export function readSpecDocuments(text: string, file: string): unknown[] {
  return camelizeDocuments(readRawDocuments(text, file), file);
}

/** Documents as written, keys converted to camelCase; the error names the document when the file holds several. */
export function camelizeDocuments(raws: unknown[], file: string): unknown[] {
  return raws.map((raw, i) => {
    try {
      return camelizeKeys(raw);
    } catch (e) {
      if (e instanceof SpecError) throw new SpecError(`${where(file, i, raws.length)}: ${e.message}`, file, e.field);
      throw e;
    }
  });
}

function looksLikeJson(text: string): boolean {
  const t = text.trimStart();
  return t.startsWith('{') || t.startsWith('[');
}

function parseYamlDocs(text: string, file: string): unknown[] {
  const docs = parseAllDocuments(text, { prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  const out: unknown[] = [];
  for (const [i, doc] of list.entries()) {
    if (doc.errors.length > 0) {
      const e = doc.errors[0];
      const line = e.linePos?.[0];
      throw new SpecError(
        `${file}${line ? `:${line.line}:${line.col}` : ''}: not valid YAML (document ${i + 1}): ${e.message.split('\n')[0]}`,
        file,
      );
    }
    const v = doc.toJS({ maxAliasCount: 100 });
    if (v === null || v === undefined) continue; // an empty document (a trailing ---)
    out.push(v);
  }
  return out;
}

/** JSON (one or several documents); a file that opens with '{' may also be YAML in flow style. */
function parseJsonOrFlowYaml(text: string, file: string): unknown[] {
  try {
    return parseJsonStream(text, file);
  } catch (jsonError) {
    try {
      return parseYamlDocs(text, file);
    } catch {
      throw jsonError;
    }
  }
}

/** One JSON value, an array of specs, or several JSON objects one after the other (as pachctl reads them). */
function parseJsonStream(text: string, file: string): unknown[] {
  const out: unknown[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && /\s/.test(text[i])) i++;
    if (i >= n) break;
    const start = i;
    let depth = 0;
    let inString = false;
    for (; i < n; i++) {
      const c = text[i];
      if (inString) {
        if (c === '\\') i++;
        else if (c === '"') inString = false;
        continue;
      }
      if (c === '"') inString = true;
      else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        depth--;
        if (depth === 0) {
          i++;
          break;
        }
      }
    }
    const chunk = text.slice(start, i);
    try {
      const v = JSON.parse(chunk);
      if (Array.isArray(v) && out.length === 0 && start === text.search(/\S/)) out.push(...v);
      else out.push(v);
    } catch (e) {
      const line = text.slice(0, start).split('\n').length;
      throw new SpecError(`${file}: not valid JSON (document starting on line ${line}): ${(e as Error).message}`, file);
    }
  }
  return out;
}
