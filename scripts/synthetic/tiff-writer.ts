/**
 * A streamed writer of tiled JPEG TIFFs with a page pyramid (one IFD per level, as OpenSlide's generic-tiff
 * reader and libvips expect). Tile bytes are appended as they come; a tile equal to one already written points
 * at the same bytes (TIFF allows any offsets), which keeps huge synthetic slides small. IFDs go at the end.
 * Classic TIFF (32-bit offsets): the file must stay under 4 GiB.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

export interface TiffLevelSpec {
  width: number;
  height: number;
}

export interface TiffOptions {
  tileSize: number;
  /** Micrometres per level-0 pixel (written as XResolution/YResolution in pixels per centimetre). */
  mpp?: number;
  description?: string;
}

const TYPE = { SHORT: 3, LONG: 4, RATIONAL: 5, ASCII: 2 } as const;

interface Entry {
  tag: number;
  type: number;
  count: number;
  /** Inline values (<= 4 bytes) or data written elsewhere. */
  data: Buffer;
}

function shorts(tag: number, values: number[]): Entry {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => b.writeUInt16LE(v, i * 2));
  return { tag, type: TYPE.SHORT, count: values.length, data: b };
}
function longs(tag: number, values: ArrayLike<number>): Entry {
  const b = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i++) b.writeUInt32LE(values[i], i * 4);
  return { tag, type: TYPE.LONG, count: values.length, data: b };
}
function rational(tag: number, num: number, den: number): Entry {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(num, 0);
  b.writeUInt32LE(den, 4);
  return { tag, type: TYPE.RATIONAL, count: 1, data: b };
}
function ascii(tag: number, s: string): Entry {
  const data = Buffer.from(s + '\0', 'latin1');
  return { tag, type: TYPE.ASCII, count: data.length, data };
}

const MAX_OFFSET = 0xffffffff;

export class TiledTiffWriter {
  private readonly fd: number;
  private position = 8;
  private readonly levels: { spec: TiffLevelSpec; offsets: Uint32Array; counts: Uint32Array }[] = [];
  private current = -1;
  private next = 0;
  uniqueTiles = 0;

  constructor(
    readonly path: string,
    readonly options: TiffOptions,
  ) {
    this.fd = openSync(path, 'w');
    const header = Buffer.alloc(8);
    header.write('II', 0, 'latin1');
    header.writeUInt16LE(42, 2);
    writeSync(this.fd, header, 0, 8, 0);
  }

  tilesAcross(spec: TiffLevelSpec): { cols: number; rows: number } {
    return {
      cols: Math.ceil(spec.width / this.options.tileSize),
      rows: Math.ceil(spec.height / this.options.tileSize),
    };
  }

  /** Start a level; its tiles then come in row-major order. */
  beginLevel(spec: TiffLevelSpec): void {
    if (this.current >= 0 && this.next !== this.levels[this.current].offsets.length) {
      throw new Error(`level ${this.current} got ${this.next} of ${this.levels[this.current].offsets.length} tiles`);
    }
    const { cols, rows } = this.tilesAcross(spec);
    this.levels.push({ spec, offsets: new Uint32Array(cols * rows), counts: new Uint32Array(cols * rows) });
    this.current = this.levels.length - 1;
    this.next = 0;
  }

  /** Append the next tile's JPEG bytes; returns where they are, so identical tiles can share them. */
  writeTile(jpeg: Buffer): { offset: number; length: number } {
    const at = { offset: this.position, length: jpeg.length };
    this.writeAt(jpeg);
    this.uniqueTiles++;
    this.placeTile(at);
    return at;
  }

  /** The next tile is bytes already in the file. */
  placeTile(at: { offset: number; length: number }): void {
    const level = this.levels[this.current];
    if (this.next >= level.offsets.length)
      throw new Error(`level ${this.current} has only ${level.offsets.length} tiles`);
    level.offsets[this.next] = at.offset;
    level.counts[this.next] = at.length;
    this.next++;
  }

  /** Write the IFDs and close; returns the file's size. */
  finish(): number {
    const { tileSize, mpp, description } = this.options;
    let firstIfd = 0;
    let previousNextPointer = -1;
    this.levels.forEach((level, i) => {
      const entries: Entry[] = [
        longs(254, [i === 0 ? 0 : 1]),
        longs(256, [level.spec.width]),
        longs(257, [level.spec.height]),
        shorts(258, [8, 8, 8]),
        shorts(259, [7]), // JPEG
        shorts(262, [6]), // YCbCr, as the JPEG tiles are
        ...(i === 0 && description ? [ascii(270, description)] : []),
        shorts(277, [3]),
        ...(mpp
          ? [rational(282, Math.round((1e4 / mpp) * 1000), 1000), rational(283, Math.round((1e4 / mpp) * 1000), 1000)]
          : []),
        shorts(284, [1]),
        ...(mpp ? [shorts(296, [3])] : []), // centimetre
        longs(322, [tileSize]),
        longs(323, [tileSize]),
        longs(324, level.offsets),
        longs(325, level.counts),
        shorts(530, [2, 2]), // 4:2:0, as the JPEG tiles are
      ];
      // Out-of-line values first, then the IFD pointing at them.
      const external = new Map<Entry, number>();
      for (const e of entries) {
        if (e.data.length > 4) {
          if (this.position % 2) this.writeAt(Buffer.alloc(1));
          external.set(e, this.position);
          this.writeAt(e.data);
        }
      }
      if (this.position % 2) this.writeAt(Buffer.alloc(1));
      const ifdAt = this.position;
      const ifd = Buffer.alloc(2 + entries.length * 12 + 4);
      ifd.writeUInt16LE(entries.length, 0);
      entries.forEach((e, k) => {
        const p = 2 + k * 12;
        ifd.writeUInt16LE(e.tag, p);
        ifd.writeUInt16LE(e.type, p + 2);
        ifd.writeUInt32LE(e.count, p + 4);
        if (external.has(e)) ifd.writeUInt32LE(external.get(e)!, p + 8);
        else e.data.copy(ifd, p + 8);
      });
      this.writeAt(ifd);
      if (i === 0) firstIfd = ifdAt;
      else this.patchLong(previousNextPointer, ifdAt);
      previousNextPointer = ifdAt + 2 + entries.length * 12;
    });
    this.patchLong(4, firstIfd);
    closeSync(this.fd);
    return this.position;
  }

  abort(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
  }

  private writeAt(buf: Buffer): void {
    if (this.position + buf.length > MAX_OFFSET)
      throw new Error(`${this.path}: over 4 GiB, which classic TIFF cannot address`);
    writeSync(this.fd, buf, 0, buf.length, this.position);
    this.position += buf.length;
  }

  private patchLong(at: number, value: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value, 0);
    writeSync(this.fd, b, 0, 4, at);
  }
}
