/**
 * One slide's detection: open it, run the tissue rule strip by strip, and write `/<slide>/tiles.json` and the QC
 * pictures `/<slide>/qc/{thumbnail.jpg,tiles.jpg,tiles.geojson}`. A slide that cannot be opened or decoded becomes
 * `/<slide>/error.json` instead (bad input is data: the stage exits 0).
 */
import { join } from 'node:path';
import {
  QC_DIR,
  QC_THUMBNAIL,
  QC_TILES_GEOJSON,
  QC_TILES_OVERLAY,
  TILES_JSON,
  tilesJsonText,
} from '../../shared/contract/index.js';
import type { MppOverride } from '../../shared/contract/index.js';
import type { Logger } from '../../shared/log.js';
import { writeFileAtomic } from '../../shared/pfs.js';
import { writeSlideError } from '../../shared/slide-error.js';
import { openSlideOrReport, SlideReadError } from '../../shared/slide/index.js';
import type { DetectConfig } from './config.js';
import { detectTilesStreamed } from './detect.js';
import { NoResolutionError } from './physical-tile.js';
import { makeQcPictures } from './qc.js';

export const STAGE = 'tile-detect';

export interface DetectSlideInput {
  slideDir: string;
  outDir: string;
  slideId: string;
  config: DetectConfig;
  /** manifest-mpp's /mpp/<slide>.json, when the manifest gives this slide's resolution */
  mppOverride?: MppOverride;
  log: Logger;
}

export async function detectSlide({
  slideDir,
  outDir,
  slideId,
  config,
  mppOverride,
  log,
}: DetectSlideInput): Promise<void> {
  const slideOut = join(outDir, slideId);
  const started = performance.now();
  const slide = await openSlideOrReport(slideDir, outDir, slideId, STAGE, log);
  if (!slide) return;
  try {
    log.info('opened', {
      reader: slide.reader,
      vendor: slide.vendor,
      width: slide.levels[0].width,
      height: slide.levels[0].height,
      levels: slide.levels.length,
    });
    // Strip by strip: the rule and the QC thumbnail are fed as the overview is read, never holding it.
    const { detection, thumbnail } = await detectTilesStreamed(slide, slideId, config, mppOverride?.mpp);
    const qc = await makeQcPictures(detection, thumbnail);
    writeFileAtomic(join(slideOut, QC_DIR, QC_THUMBNAIL), qc.thumbnail);
    writeFileAtomic(join(slideOut, QC_DIR, QC_TILES_OVERLAY), qc.tiles);
    writeFileAtomic(join(slideOut, QC_DIR, QC_TILES_GEOJSON), qc.geojson);
    writeFileAtomic(join(slideOut, TILES_JSON), tilesJsonText(detection.tilesJson));
    const { counts, reason, physical } = detection.tilesJson;
    if (physical?.mpp_source === 'manifest')
      log.info('resolution from the manifest', { mpp: physical.mpp, from: mppOverride!.source, slide_mpp: slide.mpp });
    log.info('tiles detected', {
      grid: counts.grid,
      kept: counts.kept,
      dropped_background: counts.dropped.background,
      dropped_max_tiles: counts.dropped.max_tiles,
      overview_level: detection.overview.level,
      seconds: Math.round(performance.now() - started) / 1000,
      ...(reason ? { reason } : {}),
    });
  } catch (err) {
    if (err instanceof NoResolutionError) {
      writeSlideError(outDir, slideId, {
        stage: STAGE,
        what: "physical tiles need the slide's resolution",
        why: err.why,
        where: slide.path,
        hint:
          "give the slide's resolution in the manifest's mpp column (MPP_COLUMN in manifest-mpp.yaml and merge-assign.yaml) or in the slide " +
          'file (re-export with mpp), or tile this cohort without TILE_UM / TARGET_MPP',
      });
      log.warn('no resolution for physical tiles: wrote error.json', { why: err.why });
      return;
    }
    if (!(err instanceof SlideReadError)) throw err;
    writeSlideError(outDir, slideId, {
      stage: STAGE,
      what: 'the slide cannot be decoded',
      why: err.why,
      where: `${err.path}: ${err.where}`,
      hint: 'the file is likely corrupt (a damaged tile); re-export or re-scan the slide',
    });
    log.warn('slide cannot be decoded: wrote error.json', { why: err.why, where: err.where });
  } finally {
    await slide.close();
  }
}
