/**
 * Byte buffers lent out and given back, so a stream of reads allocates as many buffers as are held at once, not
 * one per read: a fresh multi-megabyte Buffer per read is freed only when the GC gets to it, and the process's
 * peak memory then grows with the number of reads. Buffers are 4-byte aligned (own ArrayBuffers), as the
 * readers' word-wise pixel conversions want.
 */
export class BufferPool {
  private readonly free: ArrayBuffer[] = [];
  /** backings lent out by take() (weakly: one never given back, say by a decoder that failed, is the GC's) */
  private readonly lent = new WeakSet<ArrayBuffer>();

  /** @param keep most free buffers held for reuse (more given back are left to the GC). */
  constructor(private readonly keep = 16) {}

  /** A buffer of exactly `bytes` bytes (contents undefined), the pool's until given back. */
  take(bytes: number): Buffer {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const n = this.free[i].byteLength;
      if (n >= bytes && (best < 0 || n < this.free[best].byteLength)) best = i;
    }
    const backing = best >= 0 ? this.free.splice(best, 1)[0] : Buffer.allocUnsafeSlow(bytes).buffer;
    this.lent.add(backing);
    return Buffer.from(backing, 0, bytes);
  }

  /**
   * Give back a buffer from `take` (or a view of one); the caller must not touch it afterwards. Any other buffer
   * is left alone (a decoder that brought its own, a view into Node's shared slab), so a caller may give back
   * whatever it holds.
   */
  give(buf: ArrayBufferView): void {
    const backing = buf.buffer as ArrayBuffer;
    if (this.free.includes(backing)) throw new Error('BufferPool: a buffer was given back twice');
    if (!this.lent.delete(backing)) return;
    if (this.free.length >= this.keep) {
      // Keep the largest: they fit any later request.
      let smallest = 0;
      for (let i = 1; i < this.free.length; i++)
        if (this.free[i].byteLength < this.free[smallest].byteLength) smallest = i;
      if (this.free[smallest].byteLength >= backing.byteLength) return;
      this.free.splice(smallest, 1);
    }
    this.free.push(backing);
  }

  /** Buffers free for reuse now. */
  get freeCount(): number {
    return this.free.length;
  }
}
