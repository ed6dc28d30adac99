/**
 * merge-slide: container entry. Input (merge-slide.yaml): join on the slide id of merge_assign
 * `/slides/(*).json`, embed `/(*)` (lazy), histogram `/(*)` (lazy), tile_detect `/(*)` (lazy), all outer joins.
 * Writes the slide's record fragment (slide.json + links to its tensors) and its QC card (qc.json, qc.jpg) under its
 * patient's shard folder.
 */
import { basename, join } from 'node:path';
import { stageMain } from '../../shared/stage-main.js';
import { writeQcCard } from './qc-card.js';
import { runSlide } from './slide.js';

stageMain('merge-slide', async ({ env, log }) => {
  // Only the inputs that hold this slide are in the datum (outer join): their variables are set, the others not.
  const mounted = (name: string) => process.env[name] || undefined;
  const assignFile = mounted('merge_assign');
  const embed = mounted('embed');
  const histogram = mounted('histogram');
  const tileDetect = mounted('tile_detect');
  const any = assignFile ?? embed ?? histogram ?? tileDetect;
  if (!any) throw new Error('none of merge_assign, embed, histogram, tile_detect is mounted; check merge-slide.yaml');
  const slideId = assignFile ? basename(assignFile).replace(/\.json$/, '') : basename(any);
  const { path, file } = runSlide({ slideId, assignFile, embed, histogram, tileDetect, outDir: env.outDir });
  // The QC page's piece of a manifest slide (its card and scaled-down overlay), made here once per slide.
  if (file) await writeQcCard(slideId, tileDetect, join(env.outDir, path));
  log.info('slide', { slide: slideId, path, status: file?.outcome.status ?? 'unlisted' });
  if (file?.outcome.status === 'ok' && file.outcome.geometry)
    log.warn('tile geometry', { slide: slideId, why: file.outcome.geometry });
});
