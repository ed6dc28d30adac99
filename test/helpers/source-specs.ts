/**
 * The project's pipeline specs as a story runs them: every stage from its sources through tsx instead of dist/, so a
 * story needs no build. `edit` may change a spec's text further (e.g. fewer datum tries).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipelineNamesIn } from '../../app/spec-folder.js';
import { projectRoot } from './dirs.js';

/** Writes `<dir>/<pipeline>.yaml` for each of the project's pipelines; returns `dir`. */
export function writeSourceSpecs(dir: string, edit: (text: string) => string = (t) => t): string {
  mkdirSync(dir, { recursive: true });
  for (const s of pipelineNamesIn(join(projectRoot, 'pipelines'))) {
    const text = readFileSync(join(projectRoot, 'pipelines', `${s}.yaml`), 'utf8').replace(
      /\[\s*"?node"?\s*,\s*"?dist\/stages\/([\w-]+)\/main\.js"?\s*\]/,
      (_m, stage: string) => `["node", "--import", "tsx", "stages/${stage}/main.ts"]`,
    );
    writeFileSync(join(dir, `${s}.yaml`), edit(text));
  }
  return dir;
}
