/**
 * Pipelines in the store: created and updated from specs (the salt is kept unless --reprocess), deleted with
 * their output repo, listed in DAG order.
 */
import { dropPipelineDatums } from '../store/datum-versions.js';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { pipelineOrder } from './dag.js';
import { compileGlob } from '../pfs/glob.js';
import { newId } from '../pfs/names.js';
import { createRepo, dropRepo, getRepo, readersOf } from '../pfs/repos.js';
import { deletePipelineJobs } from '../store/job-rows.js';
import {
  deletePipelineRow,
  insertPipeline,
  type PipelineRow,
  pipelineRow,
  pipelineRows,
  releaseOutputRepo,
  setPipelineFile,
  updatePipelineSpec,
} from '../store/pipeline-rows.js';
import { userRepoNames } from '../store/repo-rows.js';
import { inputLeaves, type PipelineSpec } from './spec/pipeline-spec.js';
import { SpecError } from './spec/spec-error.js';
import { now, type Store, StoreError } from '../store/store.js';
export type { PipelineRow };

export function getPipeline(store: Store, name: string): PipelineRow | undefined {
  return pipelineRow(store, name);
}

export function mustPipeline(store: Store, name: string): PipelineRow {
  const p = getPipeline(store, name);
  if (!p) throw new StoreError(`pipeline ${JSON.stringify(name)} not found`);
  return p;
}

export function specOf(row: PipelineRow): PipelineSpec {
  return JSON.parse(row.spec) as PipelineSpec;
}

export function allPipelines(store: Store): PipelineRow[] {
  return pipelineRows(store);
}

/** Repos that are not pipeline outputs. */
export function userRepos(store: Store): Set<string> {
  return userRepoNames(store);
}

/** Pipelines in DAG order. */
export function orderedPipelines(store: Store): { row: PipelineRow; spec: PipelineSpec }[] {
  const rows = allPipelines(store);
  const byName = new Map(rows.map((r) => [r.name, r]));
  const specs = rows.map(specOf);
  return pipelineOrder(specs, userRepos(store), {
    files: new Map(rows.filter((r) => r.file).map((r) => [r.name, r.file!])),
  }).map((s) => ({
    row: byName.get(s.pipeline.name)!,
    spec: s,
  }));
}

export interface PutPipelinesResult {
  created: string[];
  updated: string[];
  unchanged: string[];
}

/**
 * Creates (or with `update`, replaces) pipelines from parsed specs, all in one transaction: validates globs, the
 * DAG (unknown input repos, cycles) and output repo names first; nothing changes on an error.
 * `update` keeps the salt (no reprocessing) unless `reprocess`; an unchanged spec is left as it is.
 */
export function putPipelines(
  store: Store,
  specs: PipelineSpec[],
  opts: { file?: string; update?: boolean; reprocess?: boolean; files?: Map<string, string> } = {},
): PutPipelinesResult {
  const result: PutPipelinesResult = { created: [], updated: [], unchanged: [] };
  for (const s of specs) {
    for (const { pfs, field } of inputLeaves(s.input)) {
      try {
        compileGlob(pfs.glob);
      } catch (e) {
        throw new SpecError(
          `${opts.files?.get(s.pipeline.name) ?? opts.file ?? `pipeline ${s.pipeline.name}`}: ${field}.glob: ${(e as Error).message}`,
          opts.file,
          `${field}.glob`,
        );
      }
    }
  }
  store.tx(() => {
    const existing = allPipelines(store);
    const merged = new Map(existing.map((r) => [r.name, specOf(r)]));
    const files = new Map(existing.filter((r) => r.file).map((r) => [r.name, r.file!]));
    for (const s of specs) {
      const name = s.pipeline.name;
      const before = getPipeline(store, name);
      if (before && !opts.update) {
        throw new StoreError(
          `pipeline ${name} already exists: use \`tessella update pipeline -f ${opts.file ?? '<spec>'}\``,
        );
      }
      const repo = getRepo(store, name);
      if (repo && repo.pipeline !== name) {
        throw new StoreError(
          `pipeline ${name} needs an output repo named ${name}, but a repo of that name already exists`,
        );
      }
      merged.set(name, s);
      const f = opts.files?.get(name) ?? opts.file;
      if (f) files.set(name, f);
    }
    pipelineOrder([...merged.values()], userRepos(store), { files });
    for (const s of specs) {
      const name = s.pipeline.name;
      const text = JSON.stringify(s);
      const file = opts.files?.get(name) ?? opts.file ?? null;
      const before = getPipeline(store, name);
      if (!before) {
        insertPipeline(store, { name, spec: text, file, salt: s.salt ?? newId(), created: now(), updated: now() });
        createRepo(store, name, { pipeline: name, ifMissing: true, description: `output of pipeline ${name}` });
        result.created.push(name);
        continue;
      }
      if (before.spec === text && !opts.reprocess) {
        if (file && file !== before.file) setPipelineFile(store, name, file);
        result.unchanged.push(name);
        continue;
      }
      const salt = opts.reprocess ? newId() : (s.salt ?? before.salt);
      updatePipelineSpec(store, { name, spec: text, file: file ?? before.file, salt, updated: now() });
      result.updated.push(name);
    }
  });
  return result;
}

/** Deletes a pipeline, its jobs and datums, and its output repo. Refuses while other pipelines read it. */
export function deletePipeline(store: Store, name: string, opts: { keepRepo?: boolean } = {}): void {
  store.tx(() => {
    mustPipeline(store, name);
    const readers = readersOf(store, name).filter((r) => r !== name);
    if (readers.length)
      throw new StoreError(`pipeline ${name} is an input of pipeline(s) ${readers.join(', ')}: delete those first`);
    dropPipelineDatums(store, name);
    deletePipelineJobs(store, name);
    deletePipelineRow(store, name);
    if (opts.keepRepo) releaseOutputRepo(store, name);
    else dropRepo(store, name);
  });
  rmSync(join(store.logsDir, name), { recursive: true, force: true });
}
