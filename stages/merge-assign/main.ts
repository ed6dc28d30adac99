/**
 * merge-assign: container entry. Input (merge-assign.yaml): `manifest` glob `/`. Every patient's set and shard from
 * the manifest alone; `/slides/<slide>.json` per slide, `/cohort.json`. A bad manifest or parameter fails the datum
 * (exit 1) with a message naming the row and column.
 */
import { inputPath, readStageEnv } from '../../shared/pfs.js';
import { createLogger } from '../../shared/log.js';
import { runAssign } from '../merge/assign.js';
import { readMergeConfig } from '../merge/config.js';

function main(): number {
  const env = readStageEnv();
  const log = createLogger('merge-assign', { job: env.jobId, datum: env.datumId });
  try {
    const { cohort, slides } = runAssign(inputPath('manifest'), env.outDir, readMergeConfig());
    log.info('assigned', { kind: cohort.kind, patients: cohort.manifest.patients.length, slides: slides.length, pins: Object.keys(cohort.pins).length });
    return 0;
  } catch (err) {
    const e = err as Error;
    log.error('merge-assign failed', { error: e.name, message: e.message });
    return 1;
  }
}

process.exitCode = main();
