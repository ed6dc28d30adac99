/**
 * merge-assign: container entry. Input (merge-assign.yaml): `manifest` glob `/`. Every patient's set and shard from
 * the manifest alone; `/slides/<slide>.json` per slide and `/cohort.json`. A bad manifest or parameter fails the datum (exit 1) with a
 * message naming the row and column; that holds back merge only (tile-detect reads manifest-mpp's files).
 */
import { inputPath } from '../../shared/pfs.js';
import { stageMain } from '../../shared/stage-main.js';
import { readMergeConfig } from '../cohort/merge-config.js';
import { runAssign } from './assign.js';

stageMain('merge-assign', ({ env, log }) => {
  const { cohort, slides } = runAssign(inputPath('manifest'), env.outDir, readMergeConfig());
  log.info('assigned', {
    kind: cohort.kind,
    patients: cohort.manifest.patients.length,
    slides: slides.length,
    pins: Object.keys(cohort.pins).length,
  });
});
