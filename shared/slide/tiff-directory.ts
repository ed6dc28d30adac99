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

export interface TiffFile {
  littleEndian: boolean;
  big: boolean;
  size: number;
  directories: TiffDirectory[];
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

/** The header and every directory's entries (not the values they point at). */
export async function readTiffStructure(file: FileHandle): Promise<TiffFile> {
  const size = (await file.stat()).size;
  const head = await readAt(file, 0, 16, size);
  const order = head.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') throw new TiffStructureError('no TIFF byte-order mark');
  const le = order === 'II';
  const u16 = (b: Buffer, at: number) => (le ? b.readUInt16LE(at) : b.readUInt16BE(at));
  const u32 = (b: Buffer, at: number) => (le ? b.readUInt32LE(at) : b.readUInt32BE(at));
  const u64 = (b: Buffer, at: number) => Number(le ? b.readBigUInt64LE(at) : b.readBigUInt64BE(at));
  const version = u16(head, 2);
  if (version !== 42 && version !== 43) throw new TiffStructureError(`TIFF version ${version}`);
  const big = version === 43;
  const entrySize = big ? 20 : 12;
  const inlineBytes = big ? 8 : 4;

  const directories: TiffDirectory[] = [];
  const seen = new Set<number>();
  let next = big ? u64(head, 8) : u32(head, 4);
  while (next !== 0) {
    if (seen.has(next) || directories.length >= MAX_DIRECTORIES)
      throw new TiffStructureError(`directory chain loops or runs past ${MAX_DIRECTORIES} directories`);
    seen.add(next);
    const countBytes = await readAt(file, next, big ? 8 : 2, size);
    const n = big ? u64(countBytes, 0) : u16(countBytes, 0);
    const at = next + (big ? 8 : 2);
    const body = await readAt(file, at, n * entrySize + inlineBytes, size);
    const fields = new Map<number, TiffField>();
    for (let i = 0; i < n; i++) {
      const e = i * entrySize;
      const tag = u16(body, e);
      const type = u16(body, e + 2);
      const count = big ? u64(body, e + 4) : u32(body, e + 4);
      const unit = TYPE_SIZE[type];
      if (unit === undefined) continue;
      const valueAt = e + (big ? 12 : 8);
      if (count * unit <= inlineBytes)
        fields.set(tag, { type, count, inline: body.subarray(valueAt, valueAt + inlineBytes) });
      else fields.set(tag, { type, count, offset: big ? u64(body, valueAt) : u32(body, valueAt) });
    }
    directories.push({ index: directories.length, fields });
    const link = n * entrySize;
    next = big ? u64(body, link) : u32(body, link);
  }
  return { littleEndian: le, big, size, directories };
}

/** A field's integer values (BYTE, SHORT, LONG, LONG8), or undefined when the tag is absent or not integers. */
export async function readIntegers(
  file: FileHandle,
  tiff: TiffFile,
  dir: TiffDirectory,
  tag: number,
): Promise<Float64Array | undefined> {
  const f = dir.fields.get(tag);
  if (!f || ![1, 3, 4, 16].includes(f.type)) return undefined;
  const unit = TYPE_SIZE[f.type];
  const bytes = f.inline ?? (await readAt(file, f.offset!, f.count * unit, tiff.size));
  const le = tiff.littleEndian;
  const out = new Float64Array(f.count);
  for (let i = 0; i < f.count; i++) {
    const at = i * unit;
    out[i] =
      unit === 1
        ? bytes[at]
        : unit === 2
          ? le
            ? bytes.readUInt16LE(at)
            : bytes.readUInt16BE(at)
          : unit === 4
            ? le
              ? bytes.readUInt32LE(at)
              : bytes.readUInt32BE(at)
            : Number(le ? bytes.readBigUInt64LE(at) : bytes.readBigUInt64BE(at));
  }
  return out;
}

/** A field's first integer value, or undefined. */
export async function readInteger(
  file: FileHandle,
  tiff: TiffFile,
  dir: TiffDirectory,
  tag: number,
): Promise<number | undefined> {
  return (await readIntegers(file, tiff, dir, tag))?.[0];
}

/** A field's bytes as stored (UNDEFINED or BYTE: JPEGTables), or undefined. */
export async function readBytes(
  file: FileHandle,
  tiff: TiffFile,
  dir: TiffDirectory,
  tag: number,
): Promise<Buffer | undefined> {
  const f = dir.fields.get(tag);
  if (!f || (f.type !== 7 && f.type !== 1)) return undefined;
  return f.inline ? Buffer.from(f.inline.subarray(0, f.count)) : readAt(file, f.offset!, f.count, tiff.size);
}

/** Exactly `length` bytes at `position`, or a TiffStructureError when they would lie past the end of the file. */
async function readAt(file: FileHandle, position: number, length: number, size: number): Promise<Buffer> {
  if (!(position >= 0 && length >= 0 && position + length <= size))
    throw new TiffStructureError(`${length} bytes at ${position} lie past the end of the file (${size} bytes)`);
  const buf = Buffer.allocUnsafe(length);
  const { bytesRead } = await file.read(buf, 0, length, position);
  if (bytesRead !== length) throw new TiffStructureError(`short read at ${position}`);
  return buf;
}
