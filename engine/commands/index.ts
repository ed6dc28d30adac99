/**
 * THE verb table of the `tessella` CLI: every verb, in the order `tessella help` lists them. Each group lives
 * in its own module (pachctl's verbs by object, then the engine's own: run, init, gc, add slides, demo, dataset).
 */
import type { Verb } from '../cli/verb.js';
import { commitVerbs } from './commit.js';
import { datasetVerbs } from './dataset.js';
import { datumVerbs } from './datum.js';
import { demoVerbs } from './demo.js';
import { fileVerbs } from './file.js';
import { initVerbs } from './init.js';
import { jobVerbs } from './job.js';
import { maintenanceVerbs } from './maintenance.js';
import { pipelineVerbs } from './pipeline.js';
import { repoVerbs } from './repo.js';
import { runVerbs } from './run.js';
import { slideVerbs } from './slides.js';

export const verbs: Record<string, Verb> = {
  ...repoVerbs,
  ...fileVerbs,
  ...commitVerbs,
  ...pipelineVerbs,
  ...jobVerbs,
  ...datumVerbs,
  ...runVerbs,
  ...initVerbs,
  ...maintenanceVerbs,
  ...slideVerbs,
  ...demoVerbs,
  ...datasetVerbs,
};
