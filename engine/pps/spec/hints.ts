/** What a spec error says: where (file, document, field) and what the field takes, in words. */
import type * as z from 'zod';
import { SpecError } from './spec-error.js';

/** `input.cross[1].pfs.glob` */
export function fieldPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else s += s ? `.${String(p)}` : String(p);
  }
  return s;
}

/** What a required field is, where the bare type says too little. */
const FIELD_HINTS: Record<string, string> = {
  'transform.cmd': 'the command to run, a list of strings, e.g. ["node", "dist/stages/tile-detect/main.js"]',
  'pipeline.name': 'the pipeline\'s name (letters, digits, "_" and "-")',
  input: 'one of pfs, cross, union, join, group',
  transform: 'an object with at least cmd',
  pipeline: 'an object with name',
};

export function describeIssue(iss: z.core.$ZodIssue): string {
  const msg = iss.message;
  if (iss.code === 'invalid_type') {
    const hint = FIELD_HINTS[fieldPath(iss.path)];
    if (hint && /received undefined/.test(msg)) return `required: ${hint}`;
    const expected =
      iss.expected === 'array' ? 'a list' : iss.expected === 'object' ? 'an object (a mapping)' : `a ${iss.expected}`;
    if (/received undefined/.test(msg)) return `required: ${expected}`;
    if (msg.startsWith('Invalid input')) return `must be ${expected} (${msg.replace(/^Invalid input: /, '')})`;
    return msg;
  }
  if (iss.code === 'invalid_value') {
    return `must be one of ${iss.values.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  return msg;
}

export function specErrorOf(label: string, file: string, lines: { field: string; message: string }[]): SpecError {
  const first = lines[0];
  const body =
    lines.length === 1
      ? `${first.field || '(spec)'}: ${first.message}`
      : lines.map((l) => `\n  ${l.field || '(spec)'}: ${l.message}`).join('');
  return new SpecError(`${label}: ${body}`, file, first.field);
}

/** The file, and the document when the file holds several. */
export function where(file: string, index: number, count: number): string {
  return count > 1 ? `${file} (document ${index + 1})` : file;
}
