/**
 * The engine's verbs, grouped as `tessella help` lists them: pachctl's verbs by object (repo, file, commit,
 * pipeline, job, datum), `run`, then reclaiming space and checking the store. An app adds its own verbs with verbTable (verb-table.ts).
 */
import type { Verb } from '../verb.js';
import { commitVerbs } from './commit.js';
import { datumVerbs } from './datum.js';
import { fileVerbs } from './file.js';
import { jobVerbs } from './job.js';
import { pipelineVerbs } from './pipeline.js';
import { gcVerbs } from './gc.js';
import { fsckVerbs } from './fsck.js';
import { repoVerbs } from './repo.js';
import { runVerbs } from './run.js';

/** pachctl's verbs and `run`. */
export const pachctlVerbs: Record<string, Verb> = {
  ...repoVerbs,
  ...fileVerbs,
  ...commitVerbs,
  ...pipelineVerbs,
  ...jobVerbs,
  ...datumVerbs,
  ...runVerbs,
};

export { fsckVerbs, gcVerbs };

/** Every verb of the engine alone. */
export const engineVerbs: Record<string, Verb> = { ...pachctlVerbs, ...gcVerbs, ...fsckVerbs };
