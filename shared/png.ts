/**
 * PNG for tiles, with Node's own zlib: 8-bit RGB, no interlace, every row filter "none". At zlib level 0 (stored
 * blocks) encoding is two copies and two checksums, ~10x faster than libvips' PNG writer at level 1, and decoding
 * such a file is an inflate of stored blocks. The files are ordinary PNGs that every reader opens.
 * Decoding takes the fast path for any PNG of that shape (libvips writes tiles that way too) and leaves the rest
 * (palettes, alpha, 16 bits, filtered rows, interlace) to the caller's general decoder.
 */
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import type { RgbImage } from './slide/types.js';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.allocUnsafe(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

const IEND = chunk('IEND', Buffer.alloc(0));
const IDAT_TYPE = Buffer.from('IDAT', 'latin1');

/**
 * The filtered rows of the last tile, reused: a tile loop would otherwise leave one more tile-sized buffer per tile
 * for the garbage collector (external memory: each ~6 tiles' worth costs a full mark-compact).
 */
let rows = Buffer.alloc(0);

/** Packed RGB as a PNG, zlib `level` 0..9 (0: stored, the fastest; 1: ~40% smaller on H&E, ~5x slower). */
export function encodePng(img: RgbImage, level: number): Buffer {
  const { width, height, data } = img;
  const row = width * 3;
  const size = height * (row + 1);
  if (rows.length < size) rows = Buffer.allocUnsafe(size);
  const raw = rows.subarray(0, size);
  for (let y = 0, o = 0; y < height; y++, o += row + 1) {
    raw[o] = 0; // filter: none
    raw.set(data.subarray(y * row, (y + 1) * row), o + 1);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  const idat = deflateSync(raw, { level });
  // the IDAT chunk around zlib's output without copying it first: its CRC runs over the type, then the data
  const head = Buffer.allocUnsafe(8);
  head.writeUInt32BE(idat.length, 0);
  IDAT_TYPE.copy(head, 4);
  const crc = Buffer.allocUnsafe(4);
  crc.writeUInt32BE(crc32(idat, crc32(IDAT_TYPE)), 0);
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), head, idat, crc, IEND]);
}

/**
 * A plain PNG inflated: row y is the filter byte `rows[y * (width * 3 + 1)]` (always 0, "none") and then the
 * row's packed RGB pixels. Readers that only look at the pixels (a histogram) read them here, without a copy.
 */
export interface PlainPngRows {
  rows: Buffer;
  width: number;
  height: number;
}

/**
 * The inflated rows of an 8-bit RGB, non-interlaced PNG whose rows are all unfiltered; undefined for any other PNG
 * (the caller decodes it the general way). Chunk CRCs are not checked: tiles live in TFRecords, whose records
 * carry their own CRC, and zlib checks the stream's Adler-32.
 */
export function inflatePlainPng(buf: Uint8Array): PlainPngRows | undefined {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 33 || !b.subarray(0, 8).equals(SIGNATURE) || b.toString('latin1', 12, 16) !== 'IHDR') return undefined;
  const width = b.readUInt32BE(16);
  const height = b.readUInt32BE(20);
  if (b[24] !== 8 || b[25] !== 2 || b[28] !== 0 || width === 0 || height === 0) return undefined;
  const idat: Buffer[] = [];
  for (let p = 8; p + 12 <= b.length; ) {
    const len = b.readUInt32BE(p);
    const type = b.toString('latin1', p + 4, p + 8);
    if (p + 12 + len > b.length) return undefined;
    if (type === 'IDAT') idat.push(b.subarray(p + 8, p + 8 + len));
    else if (type === 'IEND') break;
    p += 12 + len;
  }
  const stride = width * 3 + 1;
  const size = height * stride;
  let rows: Buffer;
  try {
    // zlib's output in one piece: its default 16 KiB pieces would be concatenated, one more copy of the image.
    // One byte more than the image, or zlib allocates a spare piece when the image fills the first exactly.
    rows = inflateSync(idat.length === 1 ? idat[0] : Buffer.concat(idat), { chunkSize: Math.max(size + 1, 64) });
  } catch {
    return undefined; // let the general decoder say what is wrong with it
  }
  if (rows.length !== size) return undefined;
  for (let o = 0; o < size; o += stride) if (rows[o] !== 0) return undefined;
  return { rows, width, height };
}

/**
 * The pixels of a plain PNG (see inflatePlainPng), packed; undefined for any other PNG. The rows are packed in
 * place, each moved left over the filter bytes before it: no second tile-sized buffer (its pages are the cost).
 */
export function decodePlainPng(buf: Uint8Array): RgbImage | undefined {
  const plain = inflatePlainPng(buf);
  if (!plain) return undefined;
  const { rows, width, height } = plain;
  const row = width * 3;
  for (let y = 0, o = 1; y < height; y++, o += row + 1) rows.copyWithin(y * row, o, o + row);
  return { data: rows.subarray(0, height * row), width, height };
}
