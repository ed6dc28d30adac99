/**
 * The four merge pipelines in one process (merge-assign, merge-slide per slide, merge-shard per shard, merge), as the
 * engine would run them on a cohort's stage outputs in plain folders: for tests and the merge bench.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assignedSlideFile, COHORT_FILE, SHARDS_DIR, UNLISTED_DIR } from '../../shared/contract/index.js';
import { createLogger, type Logger } from '../../shared/log.js';
import type { MergeConfig } from '../../stages/cohort/merge-config.js';
import { runAssign } from '../../stages/merge-assign/assign.js';
import { runShard, runUnlisted } from '../../stages/merge-shard/shard.js';
import { writeQcCard } from '../../stages/merge-slide/qc-card.js';
import { runSlide } from '../../stages/merge-slide/slide.js';
import { slideFolders, type StageDirs } from '../../stages/merge-slide/slide-outputs.js';
import { runFinal } from '../../stages/merge/merge.js';
import type { MergeResult } from '../../stages/merge/summary.js';

export interface MergeInputs {
  /** The manifest repo's root (holds manifest.csv and optionally splits.csv). */
  manifestDir: string;
  dirs: StageDirs;
  outDir: string;
  config: MergeConfig;
  /** the models repo's `/normalize` folder, optional */
  normalizeDir?: string;
  log?: Logger;
}

/** The four merge pipelines in one process (merge-assign, merge-slide per slide, merge-shard per shard, merge). */
export async function runMerge(inputs: MergeInputs): Promise<MergeResult> {
  const { manifestDir, dirs, outDir, config } = inputs;
  const log = inputs.log ?? createLogger('merge');
  const tmp = mkdtempSync(join(tmpdir(), 'tessella-merge-'));
  try {
    const assignOut = join(tmp, 'merge-assign');
    const assigned = runAssign(manifestDir, assignOut, config);
    const slideOut = join(tmp, 'merge-slide');
    const ids = new Set([
      ...assigned.slides.map((s) => s.slide),
      ...slideFolders(dirs.embed),
      ...slideFolders(dirs.histogram),
      ...slideFolders(dirs.tileDetect),
    ]);
    const mounted = (root: string | undefined, id: string) =>
      root && existsSync(join(root, id)) ? join(root, id) : undefined;
    for (const id of [...ids].sort()) {
      const assignFile = join(assignOut, assignedSlideFile(id));
      const { file, path } = runSlide({
        slideId: id,
        assignFile: existsSync(assignFile) ? assignFile : undefined,
        embed: mounted(dirs.embed, id),
        histogram: mounted(dirs.histogram, id),
        tileDetect: mounted(dirs.tileDetect, id),
        outDir: slideOut,
      });
      if (file) await writeQcCard(id, mounted(dirs.tileDetect, id), join(slideOut, path));
    }
    const shardOut = join(tmp, 'merge-shard');
    mkdirSync(shardOut, { recursive: true });
    const shardsRoot = join(slideOut, SHARDS_DIR);
    for (const set of slideFolders(shardsRoot))
      for (const shard of slideFolders(join(shardsRoot, set))) await runShard(join(shardsRoot, set, shard), shardOut);
    if (existsSync(join(slideOut, UNLISTED_DIR))) runUnlisted(join(slideOut, UNLISTED_DIR), shardOut);
    return runFinal({
      cohortFile: join(assignOut, COHORT_FILE),
      shardRepo: shardOut,
      normalizeDir: inputs.normalizeDir,
      outDir,
      link: false,
      log,
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
