/**
 * tile-extract: container entry, one datum = one slide joined with its tile-detect output
 * (join of `slides` `/(*)` and `tile_detect` `/(*)` on `$1`). Writes `/<slide>/tiles.tfrecord` (slideflow's keys,
 * tiles.json order), or passes tile-detect's error.json on, or writes error.json when a tile cannot be decoded.
 */
import { join } from 'node:path';
import { createLogger } from '../../shared/log.js';
import { inputPath, readStageEnv, slideIdOf } from '../../shared/pfs.js';
import { passOnSlideError, writeSlideError } from '../../shared/slide-error.js';
import { openSlide, SlideOpenError } from '../../shared/slide/index.js';
import { readTilesJson, TILES_JSON } from '../../shared/slide/tiles-json.js';
import { TileRecordWriter } from '../../shared/tile-record.js';
import { readExtractConfig } from './config.js';
import { extractTiles, TileReadError } from './extract.js';

const STAGE = 'tile-extract';
const TILES_TFRECORD = 'tiles.tfrecord';

async function main(): Promise<void> {
  const env = readStageEnv();
  const config = readExtractConfig();
  const slideDir = inputPath('slides');
  const detectDir = inputPath('tile_detect');
  const slideId = slideIdOf(detectDir);
  const log = createLogger(STAGE, { slide: slideId });

  if (passOnSlideError(detectDir, env.outDir, slideId, STAGE)) {
    log.info('tile-detect reported an error for this slide: passed it on');
    return;
  }
  const detected = readTilesJson(join(detectDir, TILES_JSON));
  if (detected.tiles.length === 0) {
    writeSlideError(env.outDir, slideId, {
      stage: STAGE,
      what: 'no tiles to extract',
      why: detected.reason ?? 'tile-detect kept no tiles',
      where: join(detectDir, TILES_JSON),
      hint: 'see qc/tiles.jpg in tile-detect; lower the tissue thresholds if the slide is pale',
    });
    log.warn('no tiles to extract: wrote error.json', { reason: detected.reason });
    return;
  }

  let slide;
  try {
    slide = await openSlide(slideDir);
  } catch (err) {
    if (!(err instanceof SlideOpenError)) throw err;
    writeSlideError(env.outDir, slideId, { stage: STAGE, what: 'the slide cannot be opened', why: err.why, where: err.path });
    log.warn('slide cannot be opened: wrote error.json', { why: err.why });
    return;
  }
  const { width, height } = slide.levels[0];
  if (width !== detected.source.width || height !== detected.source.height) {
    await slide.close();
    throw new Error(
      `${slideDir}: the slide is ${width}x${height} but tiles.json was made from a ${detected.source.width}x${detected.source.height} one; ` +
        're-run tile-detect on this commit',
    );
  }

  const out = join(env.outDir, slideId, TILES_TFRECORD);
  const writer = await TileRecordWriter.open(out);
  const progress = log.progress('tiles', detected.tiles.length, 'tiles');
  try {
    for await (const t of extractTiles(slide, detected.tiles, {
      tileSize: detected.params.tile_size,
      format: config.TILE_FORMAT,
      quality: config.JPEG_QUALITY,
      inFlight: config.READS_IN_FLIGHT,
    })) {
      await writer.write({ slide: slideId, image: t.image, locX: t.locX, locY: t.locY });
      progress.tick();
    }
    await writer.close();
    progress.finish({ format: config.TILE_FORMAT });
  } catch (err) {
    await writer.abort();
    if (!(err instanceof TileReadError)) throw err;
    writeSlideError(env.outDir, slideId, {
      stage: STAGE,
      what: 'a tile cannot be decoded',
      why: err.why,
      where: `${slide.path}: tile ${err.index} of tiles.json (col ${err.tile.col}, row ${err.tile.row}, level-0 x ${err.tile.x}, y ${err.tile.y})`,
      hint: 'the slide file is likely corrupt there; re-export or re-scan it',
    });
    log.warn('a tile cannot be decoded: wrote error.json', { why: err.why, col: err.tile.col, row: err.tile.row });
  } finally {
    await slide.close();
  }
}

main().catch((err: Error) => {
  createLogger(STAGE).error('failed', { error: err.message, stack: err.stack });
  process.exitCode = 1;
});
