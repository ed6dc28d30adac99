/**
 * Big buffers passed between the stage's thread and the inference thread, used again instead of allocated per
 * batch. Fresh memory is paid for with a page fault per 4 KiB on first touch (~6 us each on the bench machine:
 * a 60 MB copy into new memory took 370 ms, into used memory 8 ms), and a batch of 448 px tiles is ~5 MB.
 */

/** At most this many buffers wait in a pool: a stage has two or three batches in flight. */
const POOL_SIZE = 4;

/** Buffers of exactly the size asked, kept for reuse. */
class SizedPool<B extends ArrayBuffer | SharedArrayBuffer> {
  private readonly free: B[] = [];

  constructor(private readonly make: (bytes: number) => B) {}

  /** A buffer of exactly `bytes`, one given back earlier when one fits (its old bytes left in it), else a new one. */
  take(bytes: number): B {
    const i = this.free.findIndex((b) => b.byteLength === bytes);
    return i >= 0 ? this.free.splice(i, 1)[0] : this.make(bytes);
  }

  /** Keeps `buffer` for a later `take` (the oldest goes when the pool is full). */
  give(buffer: B): void {
    if (buffer.byteLength === 0) return;
    this.free.push(buffer);
    if (this.free.length > POOL_SIZE) this.free.shift();
  }
}

/**
 * ArrayBuffers, whole, so that they can be transferred to the other thread and back (shared/slide/buffer-pool.ts
 * lends Buffers within one thread).
 */
export class TransferPool extends SizedPool<ArrayBuffer> {
  constructor() {
    super((bytes) => new ArrayBuffer(bytes));
  }
}

/** Shared memory, which both threads use at once (a batch both look up: chunked-lookup.ts). */
export class SharedPool extends SizedPool<SharedArrayBuffer> {
  constructor() {
    super((bytes) => new SharedArrayBuffer(bytes));
  }
}

/** The view's ArrayBuffer when the view covers all of it (so it can be transferred and reused), else undefined. */
export function wholeBuffer(view: ArrayBufferView): ArrayBuffer | undefined {
  const b = view.buffer;
  return b instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === b.byteLength ? b : undefined;
}
