/**
 * Pachyderm pipeline specs (the subset the embedded engine runs; every other field Pachyderm knows is kept).
 *
 * A spec file is YAML or JSON, one or several documents (YAML `---`, or JSON objects one after the other as
 * `pachctl create pipeline -f` accepts), with camelCase or snake_case keys (pachctl accepts both). Keys are
 * converted to camelCase before validation, except the keys inside `env`, `nodeSelector`, `labels` and
 * `annotations`, which are the user's names.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { captureRefs, compileGlob, GlobError } from '../pfs/glob.js';

export class SpecError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'SpecError';
  }
}

// ---------------------------------------------------------------------------------------------------------
// Keys: snake_case -> camelCase

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

// ---------------------------------------------------------------------------------------------------------
// Schema

const DURATION_RE = /^([0-9]+\.?[0-9]*|\.[0-9]+)s$/;

/** A protobuf JSON duration ("3600s", "1.5s") in seconds. */
export function parseDurationSeconds(d: string): number {
  const m = DURATION_RE.exec(d.trim());
  if (!m) {
    throw new SpecError(
      `invalid duration ${JSON.stringify(d)}: Pachyderm takes protobuf JSON durations, seconds with an 's' suffix ("3600s", "1.5s"), not "1h" or "60m"`,
    );
  }
  return Number(m[1]);
}

const Duration = z.string().regex(DURATION_RE, {
  message: 'a protobuf JSON duration: seconds with an "s" suffix, e.g. "3600s" (not "1h" or "60m")',
});

const Name = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-zA-Z0-9_-]+$/, { message: 'letters, digits, "_" and "-" only' });

const PfsInputSchema = z
  .looseObject({
    name: Name.optional(),
    repo: Name,
    branch: z.string().min(1).default('master'),
    glob: z.string().min(1),
    joinOn: z.string().optional(),
    outerJoin: z.boolean().optional(),
    groupBy: z.string().optional(),
    lazy: z.boolean().optional(),
    emptyFiles: z.boolean().optional(),
  })
  .transform((p) => ({ ...p, name: p.name ?? p.repo }));

export type PfsInput = z.infer<typeof PfsInputSchema>;

export type Input =
  | { pfs: PfsInput }
  | { cross: Input[] }
  | { union: Input[] }
  | { join: Input[] }
  | { group: Input[] };

const INPUT_KINDS = ['pfs', 'cross', 'union', 'join', 'group'] as const;
const UNSUPPORTED_INPUTS = ['cron'];

// Recursive: the object form validates the children (so errors carry their path, `input.cross[1].pfs.glob`),
// then the refinement checks that exactly one kind is set.
const InputObject = z
  .looseObject({
    pfs: PfsInputSchema.optional(),
    get cross() {
      return z.array(InputSchema).min(1).optional();
    },
    get union() {
      return z.array(InputSchema).min(1).optional();
    },
    get join() {
      return z.array(InputSchema).min(1).optional();
    },
    get group() {
      return z.array(InputSchema).min(1).optional();
    },
  })
  .superRefine((v, ctx) => {
    const raw = v as Record<string, unknown>;
    for (const k of UNSUPPORTED_INPUTS) {
      if (raw[k] != null) {
        ctx.addIssue({
          code: 'custom',
          path: [k],
          message: `"${k}" inputs are not run by the embedded engine; use one of ${INPUT_KINDS.join(', ')}`,
        });
      }
    }
    const kinds = INPUT_KINDS.filter((k) => raw[k] != null);
    if (kinds.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message:
          kinds.length === 0
            ? `an input needs exactly one of ${INPUT_KINDS.join(', ')}`
            : `an input takes exactly one of ${INPUT_KINDS.join(', ')}, not ${kinds.join(' and ')}`,
      });
    }
  });

export const InputSchema: z.ZodType<Input> = InputObject as unknown as z.ZodType<Input>;

const GpuSpec = z.looseObject({ type: z.string().min(1), number: z.number().int().min(0) });
const ResourceSpec = z.looseObject({
  cpu: z.number().min(0).optional(),
  memory: z.string().optional(),
  disk: z.string().optional(),
  gpu: GpuSpec.optional(),
});

const Transform = z.looseObject({
  image: z.string().optional(),
  cmd: z.array(z.string()).min(1, { message: 'transform.cmd needs at least the program to run' }),
  stdin: z.array(z.string()).optional(),
  env: z
    .record(
      z.string(),
      z.string({
        message:
          'environment values must be strings (Pachyderm\'s rule): quote numbers and booleans, e.g. "16" or "true"',
      }),
    )
    .optional(),
  workingDir: z.string().optional(),
  errCmd: z.array(z.string()).optional(),
  errStdin: z.array(z.string()).optional(),
  acceptReturnCode: z.array(z.number().int()).optional(),
  user: z.string().optional(),
  /** one process serves many datums, each asked for with NextDatum (engine/datum-batch.ts) */
  datumBatching: z.boolean().optional(),
});

export const PipelineSpecSchema = z.looseObject({
  pipeline: z.looseObject({ name: Name, project: z.looseObject({ name: z.string() }).optional() }),
  description: z.string().optional(),
  input: InputSchema,
  transform: Transform,
  parallelismSpec: z.looseObject({ constant: z.number().int().min(0).optional() }).optional(),
  datumTries: z.number().int().min(1).default(3),
  datumTimeout: Duration.optional(),
  jobTimeout: Duration.optional(),
  reprocessSpec: z.enum(['until_success', 'every_job']).default('until_success'),
  resourceLimits: ResourceSpec.optional(),
  resourceRequests: ResourceSpec.optional(),
  autoscaling: z.boolean().optional(),
  salt: z.string().optional(),
  outputBranch: z.string().optional(),
  schedulingSpec: z.looseObject({ nodeSelector: z.record(z.string(), z.string()).optional() }).optional(),
  tolerations: z.array(z.looseObject({})).optional(),
  podPatch: z.string().optional(),
  podSpec: z.string().optional(),
  metadata: z
    .looseObject({
      labels: z.record(z.string(), z.string()).optional(),
      annotations: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
});

export type PipelineSpec = z.infer<typeof PipelineSpecSchema>;

// ---------------------------------------------------------------------------------------------------------
// Inputs

/** The pfs leaves of an input, in order. */
export function inputsOf(input: Input): PfsInput[] {
  return inputLeaves(input).map((l) => l.pfs);
}

/** The pfs leaves with their field path in the spec (`input.cross[1].pfs`). */
export function inputLeaves(input: Input, field = 'input'): { pfs: PfsInput; field: string }[] {
  if ('pfs' in input) return [{ pfs: input.pfs, field: `${field}.pfs` }];
  const [kind, children] = childrenOf(input);
  return children.flatMap((c, i) => inputLeaves(c, `${field}.${kind}[${i}]`));
}

export function childrenOf(input: Input): ['cross' | 'union' | 'join' | 'group', Input[]] {
  if ('cross' in input) return ['cross', input.cross];
  if ('union' in input) return ['union', input.union];
  if ('join' in input) return ['join', input.join];
  if ('group' in input) return ['group', input.group];
  throw new Error('not a compound input');
}

/** Checks zod cannot express: unique input names, join/group children, globs and their capture groups. */
function checkInputs(spec: PipelineSpec): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  const seen = new Map<string, string>();
  for (const { pfs, field } of inputLeaves(spec.input)) {
    if (pfs.name === 'out')
      problems.push({ field: `${field}.name`, message: '"out" is reserved for the output (/pfs/out)' });
    const before = seen.get(pfs.name);
    if (before) {
      problems.push({
        field: `${field}.name`,
        message: `input name "${pfs.name}" is also used by ${before}; names must be unique (set "name" on one of them)`,
      });
    } else seen.set(pfs.name, field);
    try {
      const g = compileGlob(pfs.glob);
      for (const [key, template] of [
        ['joinOn', pfs.joinOn],
        ['groupBy', pfs.groupBy],
      ] as const) {
        if (template === undefined) continue;
        for (const n of captureRefs(template)) {
          if (n > g.groups) {
            problems.push({
              field: `${field}.${key}`,
              message: `${template} refers to capture group $${n}, but the glob ${JSON.stringify(pfs.glob)} has ${g.groups} (capture with parentheses, e.g. "/(*)")`,
            });
          }
        }
      }
    } catch (e) {
      if (e instanceof GlobError) problems.push({ field: `${field}.glob`, message: e.message });
      else throw e;
    }
  }
  walk(spec.input, 'input');
  return problems;

  function walk(input: Input, field: string): void {
    if ('pfs' in input) return;
    const [kind, children] = childrenOf(input);
    children.forEach((c, i) => {
      const f = `${field}.${kind}[${i}]`;
      if ((kind === 'join' || kind === 'group') && !('pfs' in c)) {
        problems.push({ field: f, message: `the engine supports only pfs inputs directly inside a ${kind}` });
      }
      if (kind === 'join' && 'pfs' in c && !c.pfs.joinOn) {
        problems.push({
          field: `${f}.pfs.joinOn`,
          message: 'a join input needs joinOn (e.g. glob "/(*)" with joinOn "$1")',
        });
      }
      if (kind === 'group' && 'pfs' in c && !c.pfs.groupBy) {
        problems.push({
          field: `${f}.pfs.groupBy`,
          message: 'a group input needs groupBy (e.g. glob "/(*)-*" with groupBy "$1")',
        });
      }
      walk(c, f);
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Parsing

/** Raw documents of a spec file (YAML or JSON, one or several), keys converted to camelCase. */
export function readSpecDocuments(text: string, file: string): unknown[] {
  const raws = looksLikeJson(text) ? parseJsonOrFlowYaml(text, file) : parseYamlDocs(text, file);
  return raws.map((raw, i) => {
    try {
      return camelizeKeys(raw);
    } catch (e) {
      if (e instanceof SpecError) throw new SpecError(`${where(file, i, raws.length)}: ${e.message}`, file, e.field);
      throw e;
    }
  });
}

/** Every pipeline spec of a file, validated. Throws SpecError naming the file, the field and what is allowed. */
export function parseSpecs(text: string, file: string): PipelineSpec[] {
  const docs = readSpecDocuments(text, file);
  if (docs.length === 0) throw new SpecError(`${file}: no pipeline spec in the file`, file);
  return docs.map((doc, i) => parseSpecDocument(doc, file, i, docs.length));
}

export function loadSpecFile(path: string): PipelineSpec[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new SpecError(`${path}: cannot read the spec file (${(e as Error).message})`, path);
  }
  return parseSpecs(text, path);
}

/**
 * The specs of several spec files (each may hold several documents), with the file each pipeline came from
 * (absolute), as putPipelines records it.
 */
export function loadSpecFiles(paths: string[]): { specs: PipelineSpec[]; fileOf: Map<string, string> } {
  const specs: PipelineSpec[] = [];
  const fileOf = new Map<string, string>();
  for (const f of paths) {
    for (const spec of loadSpecFile(f)) {
      specs.push(spec);
      fileOf.set(spec.pipeline.name, resolve(f));
    }
  }
  return { specs, fileOf };
}

const sources = new WeakMap<object, string>();

/** The file a spec was parsed from (as given to parseSpecs), when it is the object parseSpecs returned. */
export function sourceOf(spec: PipelineSpec): string | undefined {
  return sources.get(spec);
}

function parseSpecDocument(doc: unknown, file: string, index: number, count: number): PipelineSpec {
  const at = where(file, index, count);
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new SpecError(`${at}: a pipeline spec is an object with pipeline, input and transform`, file);
  }
  const result = PipelineSpecSchema.safeParse(doc);
  const name = pipelineNameOf(doc);
  const label = name ? `${at} (pipeline ${name})` : at;
  if (!result.success) {
    const lines = result.error.issues.map((iss) => ({ field: fieldPath(iss.path), message: describeIssue(iss) }));
    throw specErrorOf(label, file, lines);
  }
  const spec = result.data;
  const problems = checkInputs(spec);
  if (problems.length > 0) throw specErrorOf(label, file, problems);
  sources.set(spec, file);
  return spec;
}

function specErrorOf(label: string, file: string, lines: { field: string; message: string }[]): SpecError {
  const first = lines[0];
  const body =
    lines.length === 1
      ? `${first.field || '(spec)'}: ${first.message}`
      : lines.map((l) => `\n  ${l.field || '(spec)'}: ${l.message}`).join('');
  return new SpecError(`${label}: ${body}`, file, first.field);
}

function pipelineNameOf(doc: object): string | undefined {
  const p = (doc as { pipeline?: { name?: unknown } }).pipeline;
  return p && typeof p.name === 'string' ? p.name : undefined;
}

function where(file: string, index: number, count: number): string {
  return count > 1 ? `${file} (document ${index + 1})` : file;
}

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

function describeIssue(iss: z.core.$ZodIssue): string {
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

// ---------------------------------------------------------------------------------------------------------
// YAML and JSON streams

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
