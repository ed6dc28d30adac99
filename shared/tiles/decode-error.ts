/**
 * A tile of a tiles.tfrecord that cannot be decoded: deterministic, so the slide's error.json rather than a retry
 * (for every stage that decodes tiles, with a model or without).
 */
import type { Logger } from '../log.js';
import { writeSlideError } from '../slide-error.js';
import type { TileRecord } from '../tile-record.js';

export class TileDecodeError extends Error {
  constructor(
    readonly path: string,
    readonly index: number,
    readonly record: TileRecord,
    cause: unknown,
  ) {
    super(
      `${path}: tile ${index} (loc_x ${record.locX}, loc_y ${record.locY}) cannot be decoded: ${(cause as Error).message ?? cause}`,
    );
    this.name = 'TileDecodeError';
  }
}

/** Run `decode` on a record, turning its failure into a TileDecodeError naming the tile. */
export async function decodeTile<T>(
  path: string,
  index: number,
  record: TileRecord,
  decode: (r: TileRecord) => Promise<T>,
): Promise<T> {
  try {
    return await decode(record);
  } catch (err) {
    throw new TileDecodeError(path, index, record, err);
  }
}

/** A damaged tile upstream is the slide's error.json, not a crash: re-running this stage would fail the same way. */
export function reportTileDecodeError(
  outDir: string,
  slide: string,
  stage: string,
  err: TileDecodeError,
  log: Logger,
): void {
  writeSlideError(outDir, slide, {
    stage,
    what: 'a tile cannot be decoded',
    why: err.message,
    where: `${err.path} record ${err.index}`,
    hint: 're-run the upstream stage for this slide; its tiles.tfrecord holds a damaged image',
  });
  log.error('tile cannot be decoded', { why: err.message });
}
