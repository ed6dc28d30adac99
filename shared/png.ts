/**
 * PNG for tiles: 8-bit RGB, no interlace, every row filter "none". At zlib level 0 (stored blocks) the stream is
 * written here, a copy of the pixels and two checksums, ~10x faster than libvips' PNG writer at level 1, and
 * decoding such a file is a copy of its blocks; other levels go through Node's zlib. The files are ordinary PNGs
 * that every reader opens.
 * Decoding takes the fast path for any PNG of that shape (libvips writes tiles that way too) and leaves the rest
 * (palettes, alpha, 16 bits, filtered rows, interlace) to the caller's general decoder.
 */
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import { adler32 } from './adler32.js';
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
 * The filtered rows of the last tile deflated at level >= 1, reused: a tile loop would otherwise leave one more
 * tile-sized buffer per tile for the garbage collector (external memory: each ~6 tiles' worth costs a full
 * mark-compact).
 */
let rows = Buffer.alloc(0);

/**
 * Packed RGB as a PNG, zlib `level` 0..9 (0: stored, the fastest; 1: ~40% smaller on H&E, ~5x slower). At level 0
 * the PNG is written here, into `into(bytes)` (a buffer used before spares the page faults of new memory).
 */
export function encodePng(
  img: RgbImage,
  level: number,
  into: (bytes: number) => Buffer = (bytes) => Buffer.allocUnsafe(bytes),
): Buffer {
  if (level === 0) return encodeStoredPng(img, into);
  const { width, height, data } = img;
  const row = width * 3;
  const size = height * (row + 1);
  if (rows.length < size) rows = Buffer.allocUnsafe(size);
  const raw = rows.subarray(0, size);
  for (let y = 0, o = 0; y < height; y++, o += row + 1) {
    raw[o] = 0; // filter: none
    raw.set(data.subarray(y * row, (y + 1) * row), o + 1);
  }
  const idat = deflateSync(raw, { level });
  // the IDAT chunk around zlib's output without copying it first: its CRC runs over the type, then the data
  const head = Buffer.allocUnsafe(8);
  head.writeUInt32BE(idat.length, 0);
  IDAT_TYPE.copy(head, 4);
  const crc = Buffer.allocUnsafe(4);
  crc.writeUInt32BE(crc32(idat, crc32(IDAT_TYPE)), 0);
  return Buffer.concat([SIGNATURE, ihdrChunk(width, height), head, idat, crc, IEND]);
}

function ihdrChunk(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  return chunk('IHDR', ihdr);
}

/**
 * The lengths of the stored blocks zlib's deflate at level 0 writes for `size` bytes through Node's deflateSync
 * (default chunk size): the first ends at byte 65531, the next at 98304, then one every 32768 bytes. Written the
 * same way here, a tile's PNG is byte for byte what zlib made of it before (test/shared/png.test.ts holds the two
 * together), so stored tiles keep their hashes.
 */
function storedBlocks(size: number): number[] {
  const out = [Math.min(size, 65531)];
  for (let done = out[0]; done < size; ) {
    const end = Math.min(size, done < 98304 ? 98304 : done + 32768);
    out.push(end - done);
    done = end;
  }
  return out;
}

/** This thread's copy of pixels that lie in shared memory (encodeStoredPng), grown as needed. */
let unshared = Buffer.alloc(0);

/**
 * A stored PNG written straight into one buffer: the rows, each behind its filter byte, copied into the blocks of
 * the zlib stream, the Adler-32 of the rows, and the CRC of the IDAT chunk. One copy of the pixels, against zlib's
 * two and a concatenation of the pieces of its output.
 */
function encodeStoredPng(img: RgbImage, into: (bytes: number) => Buffer): Buffer {
  const { width, height } = img;
  let data = img.data;
  // a copy out of a SharedArrayBuffer (normalize's answers) takes V8's slow path for shared memory, ~0.4 us a call
  // over the ~460 row pieces of a 448 px tile (0.49-0.59 ms a tile against 0.33): one bulk copy out first
  if (data.buffer instanceof SharedArrayBuffer) {
    if (unshared.length < data.length) unshared = Buffer.allocUnsafeSlow(data.length);
    unshared.set(data);
    data = unshared.subarray(0, data.length);
  }
  const row = width * 3;
  const stride = row + 1;
  const raw = height * stride;
  const blocks = storedBlocks(raw);
  const zlibBytes = 2 + 5 * blocks.length + raw + 4;
  const ihdr = ihdrChunk(width, height);
  const total = SIGNATURE.length + ihdr.length + 12 + zlibBytes + IEND.length;
  const out = into(total).subarray(0, total);
  let o = SIGNATURE.copy(out, 0);
  o += ihdr.copy(out, o);
  const idatStart = o;
  out.writeUInt32BE(zlibBytes, o);
  o += IDAT_TYPE.copy(out, o + 4) + 4;
  out[o++] = 0x78; // deflate, 32 KiB window
  out[o++] = 0x01; // no dictionary, fastest level
  let r = 0; // position in the rows stream
  let adler = 1; // of the rows stream, block by block as each is written
  for (let i = 0; i < blocks.length; i++) {
    const len = blocks[i];
    out[o] = i === blocks.length - 1 ? 1 : 0; // BFINAL, BTYPE 00 (stored)
    out.writeUInt16LE(len, o + 1);
    out.writeUInt16LE(len ^ 0xffff, o + 3);
    o += 5;
    const blockStart = o;
    for (let left = len; left > 0; ) {
      const y = Math.floor(r / stride);
      const c = r - y * stride;
      if (c === 0) {
        out[o++] = 0; // filter: none
        r++;
        left--;
        continue;
      }
      const n = Math.min(left, stride - c);
      const from = y * row + c - 1;
      data.copy(out, o, from, from + n);
      o += n;
      r += n;
      left -= n;
    }
    adler = adler32(out.subarray(blockStart, o), adler);
  }
  out.writeUInt32BE(adler, o);
  o += 4;
  out.writeUInt32BE(crc32(out.subarray(idatStart + 4, o)), o);
  o += 4;
  o += IEND.copy(out, o);
  if (o !== total) throw new Error(`internal: stored PNG of ${o} bytes, planned ${total}`);
  return out;
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

/** Width, height and IDAT chunks of an 8-bit RGB, non-interlaced PNG; undefined for any other. */
function plainPngParts(buf: Uint8Array): { width: number; height: number; idat: Buffer[] } | undefined {
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
  return idat.length ? { width, height, idat } : undefined;
}

/**
 * The inflated rows of an 8-bit RGB, non-interlaced PNG whose rows are all unfiltered; undefined for any other PNG
 * (the caller decodes it the general way). Chunk CRCs are not checked: tiles live in TFRecords, whose records
 * carry their own CRC, and zlib checks the stream's Adler-32.
 */
export function inflatePlainPng(buf: Uint8Array): PlainPngRows | undefined {
  const parts = plainPngParts(buf);
  if (!parts) return undefined;
  const { width, height, idat } = parts;
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
 * The pixels of a plain PNG whose zlib stream is stored blocks only (zlib level 0, as encodePng writes normalize's
 * tiles), copied row by row from the blocks into `into(bytes)`: no inflate, and no buffer in between. Undefined
 * for any other PNG, or one whose stream does not add up (the caller then decodes it the general way, which says
 * what is wrong). Neither the chunk CRCs nor zlib's Adler-32 are checked: the record's CRC covers these bytes.
 */
export function decodeStoredPng(buf: Uint8Array, into: (bytes: number) => Buffer): RgbImage | undefined {
  const parts = plainPngParts(buf);
  if (!parts) return undefined;
  const { width, height, idat } = parts;
  const z = new StoredStream(idat);
  const cmf = z.byte();
  const flg = z.byte();
  // deflate, no preset dictionary, a valid header check
  if ((cmf & 0x0f) !== 8 || flg & 0x20 || ((cmf << 8) | flg) % 31 !== 0) return undefined;
  const row = width * 3;
  const data = into(height * row);
  for (let y = 0; y < height; y++) {
    if (z.dataByte() !== 0) return undefined; // filter: none
    for (let at = y * row, left = row; left > 0; ) {
      const n = z.next(left);
      if (n === 0) return undefined;
      z.copy(data, at, n);
      at += n;
      left -= n;
    }
  }
  return z.ended() ? { data: data.subarray(0, height * row), width, height } : undefined;
}

/** The data of a zlib stream of stored deflate blocks, read across the IDAT chunks that hold it. */
class StoredStream {
  private part = 0;
  private pos = 0;
  /** bytes left in the current block; -1 before the first block */
  private left = -1;
  private final = false;

  constructor(private readonly parts: Buffer[]) {}

  /** One byte of the zlib stream itself (its header, block headers), -1 at its end. */
  byte(): number {
    while (this.part < this.parts.length && this.pos >= this.parts[this.part].length) {
      this.part++;
      this.pos = 0;
    }
    if (this.part >= this.parts.length) return -1;
    return this.parts[this.part][this.pos++];
  }

  /** How many of `want` data bytes can be read at once (within one block and one chunk); 0 when broken or ended. */
  next(want: number): number {
    while (this.left <= 0) {
      if (this.final || !this.blockHeader()) return 0;
    }
    while (this.pos >= this.parts[this.part].length) {
      this.part++;
      this.pos = 0;
      if (this.part >= this.parts.length) return 0;
    }
    return Math.min(want, this.left, this.parts[this.part].length - this.pos);
  }

  /** One data byte, -1 when broken or ended. */
  dataByte(): number {
    if (this.next(1) !== 1) return -1;
    this.left--;
    return this.parts[this.part][this.pos++];
  }

  /** Copies `n` data bytes (at most what next() said) into `dst` at `at`. */
  copy(dst: Buffer, at: number, n: number): void {
    this.parts[this.part].copy(dst, at, this.pos, this.pos + n);
    this.pos += n;
    this.left -= n;
  }

  /** Reads a block header: a stored block (BTYPE 00), its LEN and NLEN; false for any other block. */
  private blockHeader(): boolean {
    const h = this.byte();
    if (h < 0 || (h & 0x06) !== 0) return false;
    const l0 = this.byte();
    const l1 = this.byte();
    const n0 = this.byte();
    const n1 = this.byte();
    if (n1 < 0 || (l0 ^ n0) !== 0xff || (l1 ^ n1) !== 0xff) return false;
    this.final = (h & 1) === 1;
    this.left = l0 | (l1 << 8);
    return true;
  }

  /** Whether the data ended where the last block does (its 4-byte Adler-32 after it). */
  ended(): boolean {
    return this.final && this.left === 0;
  }
}

/**
 * The pixels of a plain PNG (see inflatePlainPng), packed; undefined for any other PNG. Stored blocks (level 0) are
 * copied straight into `into(bytes)` (a buffer used before: its pages are already there); other streams are inflated
 * and their rows packed in place, each moved left over the filter bytes before it.
 */
export function decodePlainPng(
  buf: Uint8Array,
  into: (bytes: number) => Buffer = (bytes) => Buffer.allocUnsafe(bytes),
): RgbImage | undefined {
  const stored = decodeStoredPng(buf, into);
  if (stored) return stored;
  const plain = inflatePlainPng(buf);
  if (!plain) return undefined;
  const { rows, width, height } = plain;
  const row = width * 3;
  for (let y = 0, o = 1; y < height; y++, o += row + 1) rows.copyWithin(y * row, o, o + row);
  return { data: rows.subarray(0, height * row), width, height };
}
