/**
 * The TIFF (and BigTIFF) structure a tiled level is read from: the image file directories' tags that say how a
 * level's tiles are stored, and where. Only what a direct tile read needs is parsed; OpenSlide stays the reader of
 * record for everything else (vendors, properties, associated images).
 */
import type { FileHandle } from 'node:fs/promises';

/** TIFF tag numbers used here (TIFF 6.0 and the JPEG technote). */
export const TAG = {
  imageWidth: 256,
  imageLength: 257,
  bitsPerSample: 258,
  compression: 259,
  photometric: 262,
  samplesPerPixel: 277,
  planarConfig: 284,
  tileWidth: 322,
  tileLength: 323,
  tileOffsets: 324,
  tileByteCounts: 325,
  jpegTables: 347,
} as const;

/** Bytes per value of each TIFF field type; a type not listed is skipped. */
const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 6: 1, 7: 1, 8: 2, 9: 4, 16: 8, 17: 8, 18: 8 };

/** One tag's values as stored: inline in the entry, or at `offset` in the file. */
export interface TiffField {
  type: number;
  count: number;
  /** the bytes, when they fit in the entry */
  inline?: Buffer;
  /** where they lie otherwise */
  offset?: number;
}

export interface TiffDirectory {
  /** 0 for the first directory */
  index: number;
  fields: ReadonlyMap<number, TiffField>;
}

/** Integer reads in a file's byte order. */
interface ByteOrder {
  littleEndian: boolean;
  u16(b: Buffer, at: number): number;
  u32(b: Buffer, at: number): number;
  u64(b: Buffer, at: number): number;
}

function byteOrder(littleEndian: boolean): ByteOrder {
  return littleEndian
    ? {
        littleEndian,
        u16: (b, at) => b.readUInt16LE(at),
        u32: (b, at) => b.readUInt32LE(at),
        u64: (b, at) => Number(b.readBigUInt64LE(at)),
      }
    : {
        littleEndian,
        u16: (b, at) => b.readUInt16BE(at),
        u32: (b, at) => b.readUInt32BE(at),
        u64: (b, at) => Number(b.readBigUInt64BE(at)),
      };
}

/** The file is not a TIFF this module can walk: the caller reads it another way. */
export class TiffStructureError extends Error {
  constructor(why: string) {
    super(why);
    this.name = 'TiffStructureError';
  }
}

/** Directories walked at most (a pyramid's levels and its associated images are a dozen; a loop is a fault). */
const MAX_DIRECTORIES = 256;

/** An open TIFF's directories, and the values of their tags read on demand. */
export class TiffFile {
  private constructor(
    private readonly file: FileHandle,
    private readonly order: ByteOrder,
    /** the file's size in bytes: no value is read past it */
    readonly size: number,
    readonly directories: readonly TiffDirectory[],
  ) {}

  /** The header and every directory's entries (not the values they point at). */
  static async read(file: FileHandle): Promise<TiffFile> {
    const size = (await file.stat()).size;
    const head = await readAt(file, 0, 16, size);
    const mark = head.toString('latin1', 0, 2);
    if (mark !== 'II' && mark !== 'MM') throw new TiffStructureError('no TIFF byte-order mark');
    const order = byteOrder(mark === 'II');
    const version = order.u16(head, 2);
    if (version !== 42 && version !== 43) throw new TiffStructureError(`TIFF version ${version}`);
    const big = version === 43;
    const entrySize = big ? 20 : 12;
    const inlineBytes = big ? 8 : 4;
    const offset = (b: Buffer, at: number) => (big ? order.u64(b, at) : order.u32(b, at));

    const directories: TiffDirectory[] = [];
    const seen = new Set<number>();
    let next = offset(head, big ? 8 : 4);
    while (next !== 0) {
      if (seen.has(next) || directories.length >= MAX_DIRECTORIES)
        throw new TiffStructureError(`directory chain loops or runs past ${MAX_DIRECTORIES} directories`);
      seen.add(next);
      const countBytes = await readAt(file, next, big ? 8 : 2, size);
      const n = big ? order.u64(countBytes, 0) : order.u16(countBytes, 0);
      const body = await readAt(file, next + (big ? 8 : 2), n * entrySize + inlineBytes, size);
      const fields = new Map<number, TiffField>();
      for (let i = 0; i < n; i++) {
        const e = i * entrySize;
        const type = order.u16(body, e + 2);
        const unit = TYPE_SIZE[type];
        if (unit === undefined) continue;
        const count = big ? order.u64(body, e + 4) : order.u32(body, e + 4);
        const valueAt = e + (big ? 12 : 8);
        fields.set(
          order.u16(body, e),
          count * unit <= inlineBytes
            ? { type, count, inline: body.subarray(valueAt, valueAt + inlineBytes) }
            : { type, count, offset: offset(body, valueAt) },
        );
      }
      directories.push({ index: directories.length, fields });
      next = offset(body, n * entrySize);
    }
    return new TiffFile(file, order, size, directories);
  }

  /** A field's integer values (BYTE, SHORT, LONG, LONG8), or undefined when the tag is absent or not integers. */
  async integers(dir: TiffDirectory, tag: number): Promise<Float64Array | undefined> {
    const f = dir.fields.get(tag);
    const read = f && INTEGER_READS[f.type];
    if (!f || !read) return undefined;
    const unit = TYPE_SIZE[f.type];
    const bytes = f.inline ?? (await readAt(this.file, f.offset!, f.count * unit, this.size));
    const out = new Float64Array(f.count);
    for (let i = 0; i < f.count; i++) out[i] = read(this.order, bytes, i * unit);
    return out;
  }

  /** A field's first integer value, or undefined. */
  async integer(dir: TiffDirectory, tag: number): Promise<number | undefined> {
    return (await this.integers(dir, tag))?.[0];
  }

  /** A field's bytes as stored (UNDEFINED or BYTE: JPEGTables), or undefined. */
  async bytes(dir: TiffDirectory, tag: number): Promise<Buffer | undefined> {
    const f = dir.fields.get(tag);
    if (!f || (f.type !== 7 && f.type !== 1)) return undefined;
    return f.inline ? Buffer.from(f.inline.subarray(0, f.count)) : readAt(this.file, f.offset!, f.count, this.size);
  }
}

/** How each integer field type is read: BYTE, SHORT, LONG, LONG8. */
const INTEGER_READS: Record<number, (order: ByteOrder, b: Buffer, at: number) => number> = {
  1: (_, b, at) => b[at],
  3: (order, b, at) => order.u16(b, at),
  4: (order, b, at) => order.u32(b, at),
  16: (order, b, at) => order.u64(b, at),
};

/** Exactly `length` bytes at `position`, or a TiffStructureError when they would lie past the end of the file. */
async function readAt(file: FileHandle, position: number, length: number, size: number): Promise<Buffer> {
  if (!(position >= 0 && length >= 0 && position + length <= size))
    throw new TiffStructureError(`${length} bytes at ${position} lie past the end of the file (${size} bytes)`);
  const buf = Buffer.allocUnsafe(length);
  const { bytesRead } = await file.read(buf, 0, length, position);
  if (bytesRead !== length) throw new TiffStructureError(`short read at ${position}`);
  return buf;
}
