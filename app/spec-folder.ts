/**
 * A folder of pipeline specs as `tessella init` reads it (the project's `pipelines/` by default): its spec files,
 * and its pipelines in DAG order over the input repos users commit to. The one list of the project's pipelines:
 * the demo, the benchmarks and the stories read it from here instead of writing the names out.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { appDir } from '../engine/app-dir.js';
import { pipelineOrder } from '../engine/pps/dag.js';
import { loadSpecFiles } from '../engine/pps/spec/load.js';
import type { PipelineSpec } from '../engine/pps/spec/pipeline-spec.js';

/** The input repos of the pathology DAG. */
/** The repo of the slides (`add slides` puts there; tile-detect reads it). */
export const SLIDES_REPO = 'slides';

export const INPUT_REPOS: readonly string[] = [SLIDES_REPO, 'manifest', 'models'];

/** The spec files of `dir` (*.yaml, *.yml, *.json), sorted; none when the folder is missing. */
export function specFilesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /\.(ya?ml|json)$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

/** The pipelines of `dir`, each after every pipeline it reads (throws SpecError on a bad spec or a cycle). */
export function orderedSpecsIn(dir = join(appDir(), 'pipelines')): PipelineSpec[] {
  const { specs, fileOf } = loadSpecFiles(specFilesIn(dir));
  return pipelineOrder(specs, new Set(INPUT_REPOS), { files: fileOf });
}

/** The names of `dir`'s pipelines, in the order of orderedSpecsIn. */
export function pipelineNamesIn(dir?: string): string[] {
  return orderedSpecsIn(dir).map((s) => s.pipeline.name);
}
