/**
 * merge: container entry, the last of the merge pipelines. Inputs (merge.yaml): cross(merge_assign `/cohort.json`,
 * merge_shard `/` (lazy: only the summaries are read; the shards and the QC page's pieces are linked), models
 * `/normalize` (lazy: its model's hash for dataset.json)). Writes the dataset at merge@master:/.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { COHORT_FILE, MODEL_FILE } from '../../shared/contract/index.js';
import { inputPath } from '../../shared/pfs.js';
import { stageMain } from '../../shared/stage-main.js';
import { runFinal } from './merge.js';

stageMain('merge', ({ env, log }) => {
  let cohortFile = inputPath('merge_assign');
  if (!cohortFile.endsWith('.json')) cohortFile = join(cohortFile, COHORT_FILE);
  let normalizeDir: string | undefined = process.env.models;
  if (normalizeDir && !existsSync(join(normalizeDir, MODEL_FILE))) normalizeDir = undefined;
  runFinal({
    cohortFile,
    shardRepo: inputPath('merge_shard'),
    normalizeDir,
    outDir: env.outDir,
    link: true,
    log,
  });
});
