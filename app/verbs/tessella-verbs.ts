/**
 * THE verb table of the `tessella` CLI: the engine's verbs with tessella's own (init with its input repos, add
 * slides, demo, dataset), in the order `tessella help` lists them.
 */
import { fsckVerbs, gcVerbs, pachctlVerbs } from '../../engine/cli/verbs/engine-verbs.js';
import { type VerbTable, verbTable } from '../../engine/cli/verb-table.js';
import { slideVerbs } from './add-slides.js';
import { datasetVerbs } from './dataset.js';
import { demoVerbs } from './demo.js';
import { initVerbs } from './init.js';
import { runVerbs } from './run.js';

// the engine's `run`, with tessella's end-of-run word on the manifest and the slides (./run.ts)
const { run: _engineRun, ...pachctlWithoutRun } = pachctlVerbs;

export const verbs: VerbTable = verbTable(
  pachctlWithoutRun,
  runVerbs,
  initVerbs,
  gcVerbs,
  fsckVerbs,
  slideVerbs,
  demoVerbs,
  datasetVerbs,
);
