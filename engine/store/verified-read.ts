/**
 * Reading a blob's bytes only as the content its name says: each copy hashes what it copies and fails, naming the
 * file and `tessella fsck`, when the bytes are not the ones stored (a blob altered, truncated or deleted on disk).
 * A copy goes to a temporary name beside its destination and is renamed into place once verified, so no damaged
 * bytes are left where the user asked for the file.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { chmod, open, rename, unlink } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import type { BlobRef } from './blobs.js';
import { StoreError } from './store.js';

const CHUNK = 4 * 1024 * 1024;
/** Up to this size a file for stdout is read and verified whole before its first byte goes out. */
export const VERIFY_BEFORE_STREAM_BYTES = 64 * 1024 * 1024;

/** A stored file whose bytes are not what its hash says (or are gone). */
export class BlobMismatchError extends StoreError {
  constructor(
    /** what the user calls the file: `repo@commit:/path`, or a datum's input */
    readonly file: string,
    readonly blob: string,
    detail: string,
    consequence: string,
  ) {
    super(`${file}: ${detail} (blob ${blob}); ${consequence}. The store is damaged: run \`tessella fsck\``);
    this.name = 'BlobMismatchError';
  }
}

/** `got.size` -1: the blob is gone. */
function mismatch(file: string, blob: string, want: BlobRef, got: BlobRef, consequence: string): BlobMismatchError {
  const detail =
    got.size < 0
      ? 'its stored bytes are missing'
      : got.size !== want.size
        ? `the stored copy has ${got.size} bytes, not the ${want.size} it was stored with`
        : `the stored bytes do not match their hash (sha256 ${got.hash.slice(0, 12)}…, not ${want.hash.slice(0, 12)}…)`;
  return new BlobMismatchError(file, blob, detail, consequence);
}

function missing(file: string, blob: string, e: unknown, consequence: string): Error {
  if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return e as Error;
  return new BlobMismatchError(file, blob, 'its stored bytes are missing', consequence);
}

/**
 * Copies blob `path` to `dest` (mode 0644) hashing as it goes; on a mismatch nothing is left at `dest` (a file
 * already there is kept as it was) and the error names `file`.
 */
export async function copyVerified(path: string, want: BlobRef, dest: string, file: string): Promise<void> {
  const consequence = `nothing was written to ${dest}`;
  const partial = `${dest}.tessella-partial-${process.pid}`;
  let input: Awaited<ReturnType<typeof open>>;
  try {
    input = await open(path, 'r');
  } catch (e) {
    throw missing(file, path, e, consequence);
  }
  const hash = createHash('sha256');
  let size = 0;
  try {
    const output = await open(partial, 'w', 0o644);
    try {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(want.size + 1, 4096)));
      for (;;) {
        const { bytesRead } = await input.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        const chunk = buf.subarray(0, bytesRead);
        hash.update(chunk);
        size += bytesRead;
        let off = 0;
        while (off < bytesRead) off += (await output.write(chunk, off, bytesRead - off)).bytesWritten;
      }
    } finally {
      await output.close();
    }
    const got = { hash: hash.digest('hex'), size };
    if (got.hash !== want.hash) throw mismatch(file, path, want, got, consequence);
    await chmod(partial, 0o644); // the umask may have narrowed it; the copy is the user's
    await rename(partial, dest);
  } catch (e) {
    await unlink(partial).catch(() => undefined);
    throw e;
  } finally {
    await input.close();
  }
}

/**
 * Writes blob `path` to `out` (stdout). A file up to VERIFY_BEFORE_STREAM_BYTES is verified whole before its
 * first byte is written; a larger one is hashed while it streams and fails at its end (the reader has its bytes
 * then, and the exit status says they are damaged).
 */
export async function streamVerified(path: string, want: BlobRef, out: Writable, file: string): Promise<void> {
  let input: Awaited<ReturnType<typeof open>>;
  try {
    input = await open(path, 'r');
  } catch (e) {
    throw missing(file, path, e, 'nothing was written');
  }
  try {
    if (want.size <= VERIFY_BEFORE_STREAM_BYTES) {
      const whole = await input.readFile();
      const got = { hash: createHash('sha256').update(whole).digest('hex'), size: whole.length };
      if (got.hash !== want.hash) throw mismatch(file, path, want, got, 'nothing was written');
      await writeAll(out, whole);
      return;
    }
    const hash = createHash('sha256');
    let size = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(CHUNK); // a fresh buffer per chunk: the stream may still hold the last one
      const { bytesRead } = await input.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      hash.update(chunk);
      size += bytesRead;
      await writeAll(out, chunk);
    }
    const got = { hash: hash.digest('hex'), size };
    if (got.hash !== want.hash)
      throw mismatch(file, path, want, got, 'the bytes written to stdout are damaged: discard them');
  } finally {
    await input.close();
  }
}

function writeAll(out: Writable, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    out.write(chunk, (e) => (e ? reject(e) : resolve()));
  });
}

/** sha256 and size of a file, read once (synchronously: a datum's mount is built synchronously). */
export function hashFileSync(path: string): BlobRef {
  const fd = openSync(path, 'r');
  try {
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(CHUNK);
    let size = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      size += n;
    }
    return { hash: hash.digest('hex'), size };
  } finally {
    closeSync(fd);
  }
}

/** Copies `src` to `dest` (mode 0444) hashing as it goes (one read of the bytes); returns what was copied. */
export function copyHashingSync(src: string, dest: string): BlobRef {
  const input = openSync(src, 'r');
  let output: number | undefined;
  let copied = false;
  try {
    output = openSync(dest, 'wx', 0o444);
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(CHUNK);
    let size = 0;
    for (;;) {
      const n = readSync(input, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      let off = 0;
      while (off < n) off += writeSync(output, buf, off, n - off);
      size += n;
    }
    copied = true;
    return { hash: hash.digest('hex'), size };
  } finally {
    closeSync(input);
    if (output !== undefined) {
      closeSync(output);
      if (!copied) rmSync(dest, { force: true });
    }
  }
}

/** The error for a datum's input whose stored bytes are not what its hash says. */
export function inputMismatch(mounted: string, blob: string, want: BlobRef, got: BlobRef): BlobMismatchError {
  return mismatch(`the datum's input ${mounted}`, blob, want, got, 'the datum did not run');
}
