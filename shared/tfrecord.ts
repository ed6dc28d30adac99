/**
 * TFRecord files as TensorFlow writes them: per record, uint64 LE length, masked CRC32C of the length,
 * the data, masked CRC32C of the data. Optional GZIP of the whole stream (TFRecordDataset compression_type="GZIP").
 * Writers stream to a temp file and rename on close; readers read record by record and never hold the whole file.
 */
import { crc32c } from '@node-rs/crc32';
import { constants } from 'node:buffer';
import { closeSync, createReadStream, createWriteStream, openSync, readSync, type WriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { atomicFile, type AtomicFile } from './pfs.js';

const MASK_DELTA = 0xa282ead8;

/** TensorFlow's CRC mask: rotate right by 15 bits, add a constant (all mod 2^32). */
export function maskedCrc32c(data: Uint8Array): number {
  return mask(crc32c(asBuffer(data)) >>> 0);
}

/** TFRecord's mask of a CRC32C: rotated right by 15 bits, plus a constant. */
function mask(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + MASK_DELTA) >>> 0;
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * The 12-byte header (length + its masked CRC) and 4-byte footer (masked CRC of the data) of one record whose data
 * is `pieces` one after another (the CRC32C chained over them).
 */
function frameRecord(pieces: Uint8Array[]): { header: Buffer; footer: Buffer; length: number } {
  let length = 0;
  let crc = 0;
  for (const p of pieces) {
    length += p.byteLength;
    crc = crc32c(asBuffer(p), crc);
  }
  const header = Buffer.allocUnsafe(12);
  header.writeBigUInt64LE(BigInt(length), 0);
  header.writeUInt32LE(maskedCrc32c(header.subarray(0, 8)), 8);
  const footer = Buffer.allocUnsafe(4);
  footer.writeUInt32LE(mask(crc >>> 0), 0);
  return { header, footer, length };
}

export interface TFRecordWriterOptions {
  gzip?: boolean;
  /**
   * Bytes queued for the file before write() waits for them to be written (the file stream's highWaterMark; default
   * Node's 16 KiB, so a record of a tile waits for its own write). A write runs on libuv's threads, behind whatever
   * else is queued there (a stage's decodes and encodes): a writer whose records are made on those threads takes a
   * few MB, so it goes on making them meanwhile.
   */
  bufferBytes?: number;
}

export class TFRecordWriter {
  private count = 0;
  private bytes = 0;
  private closed = false;
  /** The first error of the file (ENOSPC, EIO, ...), named with the file: every later call fails with it. */
  private failure: Error | undefined;
  /** Settles when the file stream is closed, whether by close(), abort() or its own error (autoDestroy). */
  private readonly streamClosed: Promise<void>;

  private constructor(
    readonly path: string,
    private readonly file: AtomicFile,
    private readonly sink: Writable,
    private readonly fileStream: WriteStream,
  ) {
    this.streamClosed = new Promise((resolve) => fileStream.once('close', () => resolve()));
    // A write error is remembered, not thrown from an event: the next write() or close() rejects with it. A
    // listener also keeps it from being an uncaught 'error' event.
    const onError = (e: Error) => {
      this.failure ??= writeError(path, e);
    };
    fileStream.on('error', onError);
    if (sink !== fileStream) sink.on('error', onError);
  }

  static async open(path: string, options: TFRecordWriterOptions = {}): Promise<TFRecordWriter> {
    const file = atomicFile(path);
    const fileStream = createWriteStream(file.tmpPath, { highWaterMark: options.bufferBytes });
    try {
      await once(fileStream, 'open');
    } catch (e) {
      throw writeError(path, e as Error);
    }
    let sink: Writable = fileStream;
    if (options.gzip) {
      const gz = createGzip({ level: 6 });
      gz.pipe(fileStream);
      sink = gz;
    }
    return new TFRecordWriter(path, file, sink, fileStream);
  }

  /** Number of records written so far. */
  get records(): number {
    return this.count;
  }

  /** Uncompressed bytes written so far (framing included). */
  get size(): number {
    return this.bytes;
  }

  async write(data: Uint8Array): Promise<void> {
    return this.writePieces([data]);
  }

  /**
   * One record whose data is `pieces` one after another, written as they are (no copy into one buffer). `written`
   * is called once the file has the pieces (or the write failed): the caller may use their memory again then.
   */
  async writePieces(pieces: Uint8Array[], written?: () => void): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.closed) throw new Error(`TFRecordWriter for ${this.path} is closed`);
    const { header, footer, length } = frameRecord(pieces);
    this.sink.write(header);
    for (const p of pieces) this.sink.write(p);
    const ok = this.sink.write(footer, written && (() => written()));
    this.count++;
    this.bytes += 16 + length;
    if (!ok) await this.drained();
  }

  /** Flush, fsync-free close, and rename into place. */
  async close(): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.closed) return;
    this.closed = true;
    this.sink.end();
    await this.streamClosed;
    if (this.failure) throw this.failure;
    this.file.commit();
  }

  /** Drop the partial file (also after a failed write: the stream may have closed itself already). */
  async abort(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.sink.destroy();
      this.fileStream.destroy();
      await this.streamClosed;
    }
    this.file.abort();
  }

  /** Waits for 'drain', or rejects with the stream's error (after which no 'drain' comes). */
  private drained(): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = () => {
        this.sink.off('drain', done);
        this.fileStream.off('close', done);
        if (this.failure) reject(this.failure);
        else resolve();
      };
      this.sink.once('drain', done);
      this.fileStream.once('close', done);
    });
  }
}

/** A file system error with the file it happened to (Node's write errors do not name it). */
function writeError(path: string, e: Error): Error {
  const code = (e as NodeJS.ErrnoException).code;
  const hint = code === 'ENOSPC' ? ': the disk is full; free space and run again' : '';
  const err = new Error(`cannot write ${path}: ${e.message}${hint}`, { cause: e });
  if (code) (err as NodeJS.ErrnoException).code = code;
  return err;
}

export class TFRecordCorruptError extends Error {
  constructor(path: string, index: number, offset: number, why: string) {
    super(`${path}: record ${index} at byte ${offset}: ${why}`);
    this.name = 'TFRecordCorruptError';
  }
}

export interface ReadOptions {
  gzip?: boolean;
  /** Check both CRCs of every record (default true). */
  verify?: boolean;
  /**
   * Read records into a few buffers used in turn. `true`: a record is valid only until the next one is asked for;
   * a number n: until n more have been asked for (a caller that holds a batch of n records at once). The caller
   * copies what it keeps. It spares a fresh tile-sized buffer per record, whose pages the kernel must fault in
   * (default false: each record its own).
   */
  reuseBuffers?: boolean | number;
}

/**
 * Stream the records of a TFRecord file. Detects GZIP by its magic bytes when `gzip` is not given.
 * Each record is read straight into a buffer of its own (the caller may keep it), with the 16 bytes after its data:
 * its data CRC and the next record's header. So a record costs one read and no copy, and the next record's read
 * is started before this one is handed over (the disk works while the caller does).
 */
export async function* readTFRecords(path: string, options: ReadOptions = {}): AsyncGenerator<Buffer> {
  const verify = options.verify ?? true;
  const gzip = options.gzip ?? (await isGzip(path));
  const source = gzip ? gunzipSource(path) : await fileSource(path);
  let next: Promise<RecordRead> | undefined;
  // with reuseBuffers (n held), n + 1 buffers in turn: the n records the caller may hold, and the one the next read
  // goes into, whose record the caller was done with when that read starts
  const held = options.reuseBuffers === true ? 1 : options.reuseBuffers || 0;
  const ring: (Buffer | undefined)[] = new Array(held + 1);
  let turn = 0;
  const recordBuffer = (size: number): Buffer => {
    if (!held) return Buffer.allocUnsafe(size);
    const slot = turn++ % ring.length;
    const old = ring[slot];
    const buf = old && old.length >= size ? old : Buffer.allocUnsafe(size);
    ring[slot] = buf;
    return buf;
  };
  try {
    const header = Buffer.allocUnsafe(12);
    let headerBytes = await source.fill(header);
    let offset = 0;
    /** The record at `offset` whose header is in `header`: its length, after the header's checks. */
    const recordLength = (index: number): number => {
      if (headerBytes < 12)
        throw new TFRecordCorruptError(path, index, offset, `truncated: ${headerBytes} trailing bytes`);
      if (verify && header.readUInt32LE(8) !== maskedCrc32c(header.subarray(0, 8)))
        throw new TFRecordCorruptError(path, index, offset, 'length CRC mismatch');
      const length = header.readBigUInt64LE(0);
      // a length past the file's end (only an unverified length can be one) is a truncation, found unread
      if (source.size !== undefined && BigInt(offset + 16) + length > source.size)
        throw new TFRecordCorruptError(path, index, offset, `truncated: ${source.size - offset} trailing bytes`);
      if (length > BigInt(MAX_RECORD_LENGTH))
        throw new TFRecordCorruptError(path, index, offset, `length ${length} is more than a record can hold`);
      return Number(length);
    };
    if (headerBytes === 0) return;
    let length = recordLength(0);
    next = readRecord(source, recordBuffer(length + 16), length);
    for (let index = 0; ; index++) {
      const { record, got } = await next;
      next = undefined;
      if (got < length + 4)
        throw new TFRecordCorruptError(path, index, offset, `truncated: ${12 + got} trailing bytes`);
      const data = record.subarray(0, length);
      if (verify && record.readUInt32LE(length) !== maskedCrc32c(data))
        throw new TFRecordCorruptError(path, index, offset, 'data CRC mismatch');
      offset += 16 + length;
      headerBytes = record.copy(header, 0, length + 4, got);
      // a damaged next header is reported after this record is handed over, as a stream reader would
      let nextProblem: unknown;
      if (headerBytes > 0) {
        try {
          length = recordLength(index + 1);
          next = readRecord(source, recordBuffer(length + 16), length);
        } catch (e) {
          nextProblem = e;
        }
      }
      yield data;
      if (nextProblem) throw nextProblem;
      if (!next) return;
    }
  } finally {
    // a caller that stops early leaves a read in flight: let it end before the file closes
    await next?.catch(() => undefined);
    await source.close();
  }
}

/** Node's largest Buffer, less the 16 bytes read with a record's data. */
const MAX_RECORD_LENGTH = constants.MAX_LENGTH - 16;

interface RecordRead {
  /** The data, its 4-byte CRC and up to 12 bytes of the next header. */
  record: Buffer;
  /** Bytes read into `record`: fewer than its length only at the end of the file. */
  got: number;
}

/** Record data of `length` bytes and the 16 after it, read into `buf` (of at least that many bytes). */
async function readRecord(source: ByteSource, buf: Buffer, length: number): Promise<RecordRead> {
  const record = buf.subarray(0, length + 16);
  return { record, got: await source.fill(record) };
}

/** The bytes of a TFRecord file, uncompressed, read in order. */
interface ByteSource {
  /** The uncompressed size when it is known without reading (a plain file). */
  readonly size?: number;
  /** Read into `buf` until it is full or the file ends; the number of bytes read (fewer only at the end). */
  fill(buf: Buffer): Promise<number>;
  close(): Promise<void>;
}

/** A plain file, read at positions straight into the caller's buffer: the kernel's copy is the only one. */
async function fileSource(path: string): Promise<ByteSource> {
  const file = await open(path, 'r');
  try {
    const stat = await file.stat();
    let position = 0;
    return {
      // a pipe or device says nothing of what it will give
      size: stat.isFile() ? stat.size : undefined,
      async fill(buf) {
        let got = 0;
        while (got < buf.length) {
          const { bytesRead } = await file.read(buf, got, buf.length - got, position);
          if (bytesRead === 0) break;
          got += bytesRead;
          position += bytesRead;
        }
        return got;
      },
      close: () => file.close(),
    };
  } catch (e) {
    await file.close();
    throw e;
  }
}

/** A GZIP file through zlib's stream: each inflated chunk is copied once, into the caller's buffer. */
function gunzipSource(path: string): ByteSource {
  const raw = createReadStream(path, { highWaterMark: 1 << 20 });
  const inflated = raw.pipe(createGunzip());
  // a read error of the file ends the inflated stream with it
  raw.on('error', (e) => inflated.destroy(e));
  const chunks = inflated[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let chunk: Buffer = Buffer.alloc(0);
  return {
    async fill(buf) {
      let got = 0;
      while (got < buf.length) {
        if (chunk.length === 0) {
          const next = await chunks.next();
          if (next.done) break;
          chunk = next.value;
        }
        const n = chunk.copy(buf, got);
        chunk = chunk.subarray(n);
        got += n;
      }
      return got;
    },
    async close() {
      await chunks.return?.();
      raw.destroy();
    },
  };
}

async function isGzip(path: string): Promise<boolean> {
  const stream = createReadStream(path, { start: 0, end: 1 });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    stream.destroy();
    return chunk.length >= 2 && chunk[0] === 0x1f && chunk[1] === 0x8b;
  }
  return false;
}

/**
 * Count the records of an uncompressed TFRecord file from its length headers alone (checking each length's
 * CRC), skipping the data: a progress total for a stage about to stream the file, at a read per record.
 */
export function countRecordsByHeaders(path: string): number {
  const fd = openSync(path, 'r');
  try {
    const header = Buffer.alloc(12);
    let pos = 0;
    let n = 0;
    for (;;) {
      const got = readSync(fd, header, 0, 12, pos);
      if (got === 0) return n;
      if (got < 12) throw new TFRecordCorruptError(path, n, pos, `truncated: ${got} trailing bytes`);
      if (header.readUInt32LE(8) !== maskedCrc32c(header.subarray(0, 8)))
        throw new TFRecordCorruptError(path, n, pos, 'length CRC mismatch');
      pos += 16 + Number(header.readBigUInt64LE(0));
      n++;
    }
  } finally {
    closeSync(fd);
  }
}
