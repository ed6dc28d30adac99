/**
 * merge-shard: container entry. Input (merge-shard.yaml): union of merge_slide `/shards/*\/*` (one datum per shard
 * folder) and unlisted `/unlisted` (merge-slide's slides without a manifest row). Writes the shard's TFRecord and its
 * summary, or the list of unlisted slides.
 */
import { stageMain } from '../../shared/stage-main.js';
import { runShard, runUnlisted } from './shard.js';

stageMain('merge-shard', async ({ env, log }) => {
  const shardDir = process.env.merge_slide;
  const unlisted = process.env.unlisted;
  if (shardDir) {
    const s = await runShard(shardDir, env.outDir);
    log.info('shard written', {
      file: s.file,
      records: s.records,
      bytes: s.bytes,
      dropped_patients: s.droppedPatients.length,
    });
  } else if (unlisted) {
    log.info('unlisted slides', { slides: runUnlisted(unlisted, env.outDir).length });
  } else {
    throw new Error('neither merge_slide nor unlisted is mounted; check merge-shard.yaml');
  }
});
