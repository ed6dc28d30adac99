/**
 * One tile as a tf.train.Example with slideflow's keys, so slideflow and TensorFlow read tiles.tfrecord as is:
 * `slide` (bytes), `image_raw` (encoded JPEG or PNG), `loc_x`, `loc_y` (int64; slideflow's convention: the
 * tile's centre in level-0 pixels).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TILES_TFRECORD } from './contract/files.js';
import {
  bytesFeature,
  decodeExample,
  encodeExample,
  encodeExamplePieces,
  type Features,
  int64Feature,
} from './example.js';
import {
  countRecordsByHeaders,
  type ReadOptions,
  readTFRecords,
  TFRecordWriter,
  type TFRecordWriterOptions,
} from './tfrecord.js';

/**
 * The tiles.tfrecord in an upstream slide folder. Its absence is a bug upstream (a slide without tiles carries
 * error.json instead, passed on before this is asked), so it throws and the datum fails.
 */
export function tilesRecordIn(slideDir: string, upstream: string): string {
  const path = join(slideDir, TILES_TFRECORD);
  if (!existsSync(path))
    throw new Error(`${path} is missing and the slide carries no error.json: ${upstream}'s output is incomplete`);
  return path;
}

export interface TileRecord {
  slide: string;
  /** Encoded image bytes (JPEG or PNG). */
  image: Buffer;
  locX: number;
  locY: number;
}

/** A tile's features, slideflow's keys. */
function tileFeatures(t: TileRecord): Features {
  return {
    slide: { bytes: [t.slide] },
    image_raw: { bytes: [t.image] },
    loc_x: { int64: [t.locX] },
    loc_y: { int64: [t.locY] },
  };
}

export function encodeTileRecord(t: TileRecord): Buffer {
  return encodeExample(tileFeatures(t));
}

export function decodeTileRecord(buf: Uint8Array): TileRecord {
  const f = decodeExample(buf);
  return {
    slide: bytesFeature(f, 'slide')[0].toString('utf8'),
    image: bytesFeature(f, 'image_raw')[0],
    locX: Number(int64Feature(f, 'loc_x')[0]),
    locY: Number(int64Feature(f, 'loc_y')[0]),
  };
}

/**
 * How many tiles a tiles.tfrecord holds, from its record headers (a progress total); undefined when they do not
 * read (a damaged file is reported by the stream that reads it, where the stage handles it).
 */
export function countTiles(path: string): number | undefined {
  try {
    return countRecordsByHeaders(path);
  } catch {
    return undefined;
  }
}

/**
 * Stream the tiles of a tiles.tfrecord in file order. With `reuseBuffers` a tile's image is valid only until the
 * next tile is asked for (see readTFRecords).
 */
export async function* readTileRecords(
  path: string,
  options: Pick<ReadOptions, 'reuseBuffers'> = {},
): AsyncGenerator<TileRecord> {
  for await (const buf of readTFRecords(path, options)) yield decodeTileRecord(buf);
}

/** Write tiles in order to `path` (atomically, on close). */
export class TileRecordWriter {
  private constructor(private readonly writer: TFRecordWriter) {}
  static async open(path: string, options: Pick<TFRecordWriterOptions, 'bufferBytes'> = {}): Promise<TileRecordWriter> {
    return new TileRecordWriter(await TFRecordWriter.open(path, options));
  }
  get count(): number {
    return this.writer.records;
  }
  /**
   * `written`: called once the file has the tile's image (or the write failed), whose memory the caller may then use
   * again; the image is written from where it is, not copied into the record first.
   */
  write(t: TileRecord, written?: () => void): Promise<void> {
    return this.writer.writePieces(encodeExamplePieces(tileFeatures(t)), written);
  }
  close(): Promise<void> {
    return this.writer.close();
  }
  abort(): Promise<void> {
    return this.writer.abort();
  }
}
