/**
 * merge-shard: container entry. Input (merge-shard.yaml): union of merge_slide `/shards/*\/*` (one datum per shard
 * folder) and unlisted `/unlisted` (merge-slide's slides without a manifest row). Writes the shard's TFRecord and its
 * summary, or the list of unlisted slides.
 */
import { readStageEnv } from '../../shared/pfs.js';
import { createLogger } from '../../shared/log.js';
import { runShard, runUnlisted } from '../merge/shard.js';

async function main(): Promise<number> {
  const env = readStageEnv();
  const log = createLogger('merge-shard', { job: env.jobId, datum: env.datumId });
  try {
    const shardDir = process.env.merge_slide;
    const unlisted = process.env.unlisted;
    if (shardDir) {
      const s = await runShard(shardDir, env.outDir);
      log.info('shard written', { file: s.file, records: s.records, bytes: s.bytes, dropped_patients: s.droppedPatients.length });
    } else if (unlisted) {
      log.info('unlisted slides', { slides: runUnlisted(unlisted, env.outDir).length });
    } else {
      throw new Error('neither merge_slide nor unlisted is mounted; check merge-shard.yaml');
    }
    return 0;
  } catch (err) {
    const e = err as Error;
    log.error('merge-shard failed', { error: e.name, message: e.message });
    return 1;
  }
}

process.exitCode = await main();
