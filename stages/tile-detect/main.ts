/**
 * tile-detect: container entry, one datum = one slide folder (`slides` glob `/*`). Writes
 * `/<slide>/tiles.json` and `/<slide>/qc/{thumbnail.jpg,tiles.jpg,tiles.geojson}`, or `/<slide>/error.json` for a
 * slide that cannot be opened or decoded (exit 0: bad input is data).
 */
import { join } from 'node:path';
import { createLogger } from '../../shared/log.js';
import { inputPath, readStageEnv, slideIdOf, writeFileAtomic } from '../../shared/pfs.js';
import { writeSlideError } from '../../shared/slide-error.js';
import { openSlideOrReport, SlideReadError, TILES_JSON } from '../../shared/slide/index.js';
import { readDetectConfig } from './config.js';
import { detectTilesStreamed } from './detect.js';
import { NoResolutionError } from './physical-tile.js';
import { makeQcPictures } from './qc.js';

const STAGE = 'tile-detect';

async function main(): Promise<void> {
  const env = readStageEnv();
  const config = readDetectConfig();
  const slideDir = inputPath('slides');
  const slideId = slideIdOf(slideDir);
  const log = createLogger(STAGE, { slide: slideId });
  const outDir = join(env.outDir, slideId);
  const started = performance.now();

  const slide = await openSlideOrReport(slideDir, env.outDir, slideId, STAGE, log);
  if (!slide) return;
  try {
    log.info('opened', { reader: slide.reader, vendor: slide.vendor, width: slide.levels[0].width, height: slide.levels[0].height, levels: slide.levels.length });
    // Strip by strip: the rule and the QC thumbnail are fed as the overview is read, never holding it.
    const { detection, thumbnail } = await detectTilesStreamed(slide, slideId, config);
    const qc = await makeQcPictures(detection, thumbnail);
    writeFileAtomic(join(outDir, 'qc', 'thumbnail.jpg'), qc.thumbnail);
    writeFileAtomic(join(outDir, 'qc', 'tiles.jpg'), qc.tiles);
    writeFileAtomic(join(outDir, 'qc', 'tiles.geojson'), qc.geojson);
    writeFileAtomic(join(outDir, TILES_JSON), JSON.stringify(detection.tilesJson, null, 1) + '\n');
    const { counts, reason } = detection.tilesJson;
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
      writeSlideError(env.outDir, slideId, {
        stage: STAGE,
        what: 'physical tiles need the slide\'s resolution',
        why: err.why,
        where: slide.path,
        hint: 'give the resolution in the slide file (re-export with mpp), or tile this cohort without TILE_UM / TARGET_MPP',
      });
      log.warn('no resolution for physical tiles: wrote error.json', { why: err.why });
      return;
    }
    if (!(err instanceof SlideReadError)) throw err;
    writeSlideError(env.outDir, slideId, {
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

main().catch((err: Error) => {
  createLogger(STAGE).error('failed', { error: err.message, stack: err.stack });
  process.exitCode = 1;
});
