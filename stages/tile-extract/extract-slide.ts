/**
 * One slide's extraction: the kept tiles of tiles.json, read at level 0 and encoded, streamed into
 * `/<slide>/tiles.tfrecord` in tiles.json order. A slide tile-detect rejected, one with no tiles, one that cannot be
 * opened or a tile that cannot be decoded becomes `/<slide>/error.json` instead.
 */
import { join } from 'node:path';
import type { Logger } from '../../shared/log.js';
import { passOnSlideError, writeSlideError } from '../../shared/slide-error.js';
import { readTilesJson, TILES_JSON, TILES_TFRECORD } from '../../shared/contract/index.js';
import { openSlideOrReport } from '../../shared/slide/index.js';
import { TileRecordWriter } from '../../shared/tile-record.js';
import type { ExtractConfig } from './config.js';
import { extractTiles, TileReadError } from './extract.js';

export const STAGE = 'tile-extract';

/** Bytes of encoded tiles queued for tiles.tfrecord before the loop waits for the disk (~20 tiles of 448 px). */
export const WRITE_BUFFER = 4 << 20;

export interface ExtractSlideInput {
  slideDir: string;
  detectDir: string;
  outDir: string;
  slideId: string;
  config: ExtractConfig;
  log: Logger;
}

export async function extractSlide({
  slideDir,
  detectDir,
  outDir,
  slideId,
  config,
  log,
}: ExtractSlideInput): Promise<void> {
  if (passOnSlideError(detectDir, outDir, slideId, STAGE)) {
    log.info('tile-detect reported an error for this slide: passed it on');
    return;
  }
  const detected = readTilesJson(join(detectDir, TILES_JSON));
  if (detected.tiles.length === 0) {
    writeSlideError(outDir, slideId, {
      stage: STAGE,
      what: 'no tiles to extract',
      why: detected.reason ?? 'tile-detect kept no tiles',
      where: join(detectDir, TILES_JSON),
      hint: 'see qc/tiles.jpg in tile-detect; lower the tissue thresholds if the slide is pale',
    });
    log.warn('no tiles to extract: wrote error.json', { reason: detected.reason });
    return;
  }

  const slide = await openSlideOrReport(slideDir, outDir, slideId, STAGE, log);
  if (!slide) return;
  try {
    const { width, height } = slide.levels[0];
    if (width !== detected.source.width || height !== detected.source.height) {
      throw new Error(
        `${slideDir}: the slide is ${width}x${height} but tiles.json was made from a ${detected.source.width}x${detected.source.height} one; ` +
          're-run tile-detect on this commit',
      );
    }
    // tiles are read, decoded and encoded on libuv's threads, where the file's writes queue too: with Node's 16 KiB a
    // tile of ~200 KB waited for its own write, and the reads stopped once the window was full (1,875 tiles alone, a
    // scratch loop: 1.66-1.68 cores busy against 1.77-1.82 with 4 MiB, 1.12-1.19x the tiles/s over six alternated pairs)
    const writer = await TileRecordWriter.open(join(outDir, slideId, TILES_TFRECORD), { bufferBytes: WRITE_BUFFER });
    const progress = log.progress('tiles', detected.tiles.length, 'tiles');
    try {
      const tiles = extractTiles(slide, detected.tiles, {
        tileSize: detected.params.tile_size,
        ...(detected.physical
          ? {
              read: {
                level: detected.physical.read_level,
                px: detected.physical.read_px,
                level0Px: detected.physical.tile_px_level0,
              },
            }
          : {}),
        format: config.TILE_FORMAT,
        quality: config.JPEG_QUALITY,
        chroma: config.JPEG_CHROMA,
        inFlight: config.READS_IN_FLIGHT,
      });
      for await (const t of tiles) {
        await writer.write({ slide: slideId, image: t.image, locX: t.locX, locY: t.locY });
        progress.tick();
      }
      await writer.close();
      progress.finish({ format: config.TILE_FORMAT });
    } catch (err) {
      await writer.abort();
      if (!(err instanceof TileReadError)) throw err;
      writeSlideError(outDir, slideId, {
        stage: STAGE,
        what: 'a tile cannot be decoded',
        why: err.why,
        where: `${slide.path}: tile ${err.index} of tiles.json (col ${err.tile.col}, row ${err.tile.row}, level-0 x ${err.tile.x}, y ${err.tile.y})`,
        hint: 'the slide file is likely corrupt there; re-export or re-scan it',
      });
      log.warn('a tile cannot be decoded: wrote error.json', { why: err.why, col: err.tile.col, row: err.tile.row });
    }
  } finally {
    await slide.close();
  }
}
