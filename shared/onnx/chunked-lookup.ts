/**
 * One batch's look-ups in the colour table (colour-table.ts), cut into chunks of pixels that the inference worker
 * and the stage's thread claim in turn: the worker once it reaches the batch, the stage's thread whenever it would
 * otherwise wait for the worker. The look-ups (~2-4 ms a 448 px tile) held the worker alone while the stage's
 * thread idled ~60% of a slide; now its idle time takes a share, and its own work (decoding, encoding) comes first.
 *
 * Everything lives in one shared buffer that both threads map alike: three counters (the next chunk to claim, the
 * chunks done, whether the worker has finished the batch), each chunk's counts, and each chunk's holes and asks in a
 * region of their own (a chunk asks at most its own pixels), so no two threads write the same bytes.
 */
import type { ColourTable } from './colour-table.js';

/** Pixels per chunk: small enough that the two threads finish near together, large enough to claim rarely. */
export const CHUNK_PIXELS = 8192;

const NEXT = 0;
const DONE = 1;
const FINISHED = 2;
const CONTROL_BYTES = 16;

export class ChunkedLookUp {
  readonly chunks: number;
  private readonly control: Int32Array;
  /** per chunk: its holes, and the bytes of colours it asked */
  private readonly counts: Int32Array;
  /** per chunk, from its first pixel: the byte offsets (within the chunk) of its pixels left unanswered */
  private readonly holes: Int32Array;
  /** per chunk, from its first byte: the colours it asked, packed RGB */
  private readonly asks: Uint8Array;

  /** The shared buffer's size for a batch of `bytes` (packed RGB). */
  static bufferBytes(bytes: number): number {
    const chunks = Math.ceil(bytes / (3 * CHUNK_PIXELS));
    return CONTROL_BYTES + 8 * chunks + (4 * bytes) / 3 + bytes;
  }

  constructor(
    readonly buffer: SharedArrayBuffer,
    /** the batch's bytes of packed RGB */
    readonly bytes: number,
  ) {
    if (bytes % 3 || buffer.byteLength < ChunkedLookUp.bufferBytes(bytes))
      throw new Error(`a look-up of ${bytes} bytes needs ${ChunkedLookUp.bufferBytes(bytes)} of shared memory`);
    this.chunks = Math.ceil(bytes / (3 * CHUNK_PIXELS));
    this.control = new Int32Array(buffer, 0, 3);
    this.counts = new Int32Array(buffer, CONTROL_BYTES, 2 * this.chunks);
    const holesAt = CONTROL_BYTES + 8 * this.chunks;
    this.holes = new Int32Array(buffer, holesAt, bytes / 3);
    this.asks = new Uint8Array(buffer, holesAt + (4 * bytes) / 3, bytes);
  }

  /** Ready for a new batch: no chunk claimed (a buffer of an earlier batch keeps its old counters). */
  reset(): void {
    Atomics.store(this.control, NEXT, 0);
    Atomics.store(this.control, DONE, 0);
    Atomics.store(this.control, FINISHED, 0);
  }

  /** The worker has run the batch's new colours and filled its holes (set by the worker, read by the stage's thread). */
  finish(): void {
    Atomics.store(this.control, FINISHED, 1);
  }

  finished(): boolean {
    return Atomics.load(this.control, FINISHED) === 1;
  }

  /**
   * Claims chunks and looks each one up, answers into `out`, until none is left or `stop()` says so (asked before each
   * claim); returns how many this thread took. Never blocks.
   */
  lookUp(table: ColourTable, pixels: Uint8Array, out: Uint8Array, stop?: () => boolean): number {
    let mine = 0;
    while (!stop?.()) {
      const c = Atomics.add(this.control, NEXT, 1);
      if (c >= this.chunks) return mine;
      const [start, end] = this.range(c);
      const found = table.lookUp(
        pixels.subarray(start, end),
        out.subarray(start, end),
        this.holes.subarray(start / 3),
        this.asks.subarray(start),
        0,
      );
      this.counts[2 * c] = found.holes;
      this.counts[2 * c + 1] = found.askedBytes;
      mine++;
      // the counts above are seen by the thread that reads this counter (sequentially consistent)
      if (Atomics.add(this.control, DONE, 1) + 1 === this.chunks) Atomics.notify(this.control, DONE);
    }
    return mine;
  }

  /**
   * Blocks until every chunk is looked up, by either thread (the worker's side: Atomics.wait). A chunk claimed and
   * never finished (its thread stopped) is an error after `patienceMs` without progress, not a hang.
   */
  waitDone(patienceMs = 60_000): void {
    for (let done = Atomics.load(this.control, DONE); done < this.chunks; ) {
      if (Atomics.wait(this.control, DONE, done, patienceMs) === 'timed-out')
        throw new Error(
          `colour table: ${this.chunks - done} of ${this.chunks} chunks claimed and not looked up after ${patienceMs} ms`,
        );
      done = Atomics.load(this.control, DONE);
    }
  }

  /** The colours every chunk asked, packed into `into` from its start; returns their bytes. */
  gatherAsks(into: Uint8Array): number {
    let at = 0;
    for (let c = 0; c < this.chunks; c++) {
      const [start] = this.range(c);
      const bytes = this.counts[2 * c + 1];
      into.set(this.asks.subarray(start, start + bytes), at);
      at += bytes;
    }
    return at;
  }

  /**
   * Every chunk's holes filled from the table (ColourTable.fill); returns how many stay unanswered, each chunk's
   * kept at the front of its holes for gatherUnanswered.
   */
  fill(table: ColourTable, pixels: Uint8Array, out: Uint8Array): number {
    let left = 0;
    for (let c = 0; c < this.chunks; c++) {
      const [start, end] = this.range(c);
      const holes = this.counts[2 * c];
      if (holes === 0) continue;
      const unanswered = table.fill(
        pixels.subarray(start, end),
        out.subarray(start, end),
        this.holes.subarray(start / 3),
        holes,
      );
      this.counts[2 * c] = unanswered;
      left += unanswered;
    }
    return left;
  }

  /** The colours of the holes fill left unanswered, packed into `into` (repeats included); returns their bytes. */
  gatherUnanswered(pixels: Uint8Array, into: Uint8Array): number {
    let at = 0;
    for (let c = 0; c < this.chunks; c++) {
      const [start] = this.range(c);
      for (let i = 0; i < this.counts[2 * c]; i++) {
        const p = start + this.holes[start / 3 + i];
        into[at++] = pixels[p];
        into[at++] = pixels[p + 1];
        into[at++] = pixels[p + 2];
      }
    }
    return at;
  }

  private range(c: number): [number, number] {
    const start = c * 3 * CHUNK_PIXELS;
    return [start, Math.min(this.bytes, start + 3 * CHUNK_PIXELS)];
  }
}
