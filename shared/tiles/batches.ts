/**
 * Tiles of a tiles.tfrecord, decoded and grouped into batches of one pixel size for a model. Tiles in a batch
 * are decoded concurrently (on libuv's threads); the consumer decides what to do with the pixels. The encoded
 * images are read into a few buffers used in turn (a batch's worth and one), so a batch's records carry no image:
 * what `prepare` made of it is all that is left of it.
 */
import { readTileRecords, type TileRecord } from '../tile-record.js';
import { decodeTile } from './decode-error.js';

/** A tile's record without its image (read into a buffer that later tiles use again). */
export type TilePlace = Omit<TileRecord, 'image'>;

export interface Batch<T> {
  records: TilePlace[];
  items: T[];
  /** Index of the first tile of the batch in the file. */
  start: number;
}

/**
 * Yield batches of up to `size` tiles. `prepare` turns one record into what the batch holds; `key` (e.g. the
 * tile's pixel size) must be equal within a batch: a change closes the batch early.
 */
export async function* tileBatches<T>(
  path: string,
  size: number,
  prepare: (record: TileRecord, index: number) => Promise<T>,
  key: (item: T) => string = () => '',
): AsyncGenerator<Batch<T>> {
  let records: TileRecord[] = [];
  let start = 0;
  let index = 0;
  const flush = async function* (recs: TileRecord[], first: number): AsyncGenerator<Batch<T>> {
    const items = await Promise.all(
      recs.map((r, i) => decodeTile(path, first + i, r, (rec) => prepare(rec, first + i))),
    );
    // Split where the key changes (rare: tiles of one slide share a size).
    let from = 0;
    for (let i = 1; i <= items.length; i++) {
      if (i === items.length || key(items[i]) !== key(items[from])) {
        const places = recs.slice(from, i).map(({ slide, locX, locY }) => ({ slide, locX, locY }));
        yield { records: places, items: items.slice(from, i), start: first + from };
        from = i;
      }
    }
  };
  for await (const record of readTileRecords(path, { reuseBuffers: size })) {
    records.push(record);
    index++;
    if (records.length === size) {
      yield* flush(records, start);
      records = [];
      start = index;
    }
  }
  if (records.length) yield* flush(records, start);
}
