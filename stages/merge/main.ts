/**
 * merge: container entry. Inputs (merge.yaml): cross(manifest `/`, tile_detect `/` lazy, embed `/`, histogram `/`).
 * A bad manifest or parameter fails the datum (exit 1) with a message naming the row and column.
 */
import { existsSync } from 'node:fs';
import { inputPath, readStageEnv } from '../../shared/pfs.js';
import { createLogger } from '../../shared/log.js';
import { readMergeConfig } from './config.js';
import { runMerge } from './merge.js';

async function main(): Promise<number> {
  const env = readStageEnv();
  const log = createLogger('merge', { job: env.jobId, datum: env.datumId });
  try {
    const config = readMergeConfig();
    let tileDetect: string | undefined;
    try {
      tileDetect = inputPath('tile_detect');
    } catch {
      log.warn('tile_detect not mounted: the report will lack grid/kept/dropped counts per slide');
    }
    await runMerge({
      manifestDir: inputPath('manifest'),
      dirs: { embed: inputPath('embed'), histogram: inputPath('histogram'), tileDetect: tileDetect && existsSync(tileDetect) ? tileDetect : undefined },
      outDir: env.outDir,
      config,
      log,
    });
    return 0;
  } catch (err) {
    const e = err as Error;
    log.error('merge failed', { error: e.name, message: e.message });
    return 1;
  }
}

process.exitCode = await main();
