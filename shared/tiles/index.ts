/** Tiles of a tiles.tfrecord decoded (in batches for a model, or one by one), and the error a damaged one gives. */
export { tileBatches, type Batch } from './batches.js';
export { decodeTile, reportTileDecodeError, TileDecodeError } from './decode-error.js';
export { firstTileSide } from './tile-side.js';
