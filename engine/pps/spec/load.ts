/** Spec files read and validated into pipeline specs, each remembered with the file it came from. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { camelizeDocuments, readRawDocuments } from './documents.js';
import { unknownKeys } from './known-keys.js';
import { describeIssue, fieldPath, specErrorOf, where } from './hints.js';
import { checkInputs, type PipelineSpec, PipelineSpecSchema } from './pipeline-spec.js';
import { SpecError } from './spec-error.js';

/** Every pipeline spec of a file, validated. Throws SpecError naming the file, the field and what is allowed. */
export function parseSpecs(text: string, file: string): PipelineSpec[] {
  const raws = readRawDocuments(text, file);
  if (raws.length === 0) throw new SpecError(`${file}: no pipeline spec in the file`, file);
  const docs = camelizeDocuments(raws, file);
  // unknown keys, in the user's spelling: Pachyderm's schema refuses them, and they would be ignored here
  raws.forEach((raw, i) => {
    const unknown = unknownKeys(raw);
    if (unknown.length === 0) return;
    const name = pipelineNameOf(raw);
    const at = where(file, i, raws.length);
    throw specErrorOf(name ? `${at} (pipeline ${name})` : at, file, unknown);
  });
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

function pipelineNameOf(doc: unknown): string | undefined {
  if (doc === null || typeof doc !== 'object') return undefined;
  const p = (doc as { pipeline?: { name?: unknown } }).pipeline;
  return p && typeof p.name === 'string' ? p.name : undefined;
}
