/**
 * Streaming area-average resize of an RGB image, fed in blocks (any order within a strip, strips top to
 * bottom). Each output pixel is the mean of the input area it covers, with fractional weights at the edges, so
 * any scale works (16, 1.996, or 0.996 when a level's downsample is a hair over the target). Only the output
 * rows the current strip touches are held as floats; the output itself is 8-bit, either one image or, with a
 * row sink, handed out as rows complete (then nothing of the size of the output is held).
 */

import type { BufferPool } from './buffer-pool.js';

/**
 * Receives output rows [y, y + rows) as they complete (RGB, outWidth wide); `data` is the sink's to keep, or,
 * with a row pool, the sink's until it gives it back to that pool.
 */
export type RowSink = (y: number, rows: number, data: Buffer) => void;

interface AxisWeights {
  /** For output index j: its input entries are [start[j], start[j] + count[j]) of `index`/`weight`. */
  start: Int32Array;
  count: Int32Array;
  index: Int32Array;
  weight: Float64Array;
  /** For input index i: the first output index it contributes to (outputs are contiguous from there). */
  firstOut: Int32Array;
  /** For output index j: the last input index that contributes to it. */
  lastIn: Int32Array;
}

/** Weights of a 1-D area resize from `inSize` to `outSize`, normalized to sum 1 per output index. */
export function axisWeights(inSize: number, outSize: number): AxisWeights {
  const ratio = inSize / outSize;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const idx: number[] = [];
  const wts: number[] = [];
  const firstOut = new Int32Array(inSize).fill(-1);
  const lastIn = new Int32Array(outSize);
  for (let j = 0; j < outSize; j++) {
    const a = j * ratio;
    const b = Math.min(inSize, (j + 1) * ratio);
    start[j] = idx.length;
    let total = 0;
    for (let i = Math.floor(a); i < Math.ceil(b) && i < inSize; i++) {
      const w = Math.min(b, i + 1) - Math.max(a, i);
      if (w <= 1e-12) continue;
      idx.push(i);
      wts.push(w);
      total += w;
      if (firstOut[i] < 0) firstOut[i] = j;
      lastIn[j] = i;
    }
    count[j] = idx.length - start[j];
    for (let k = start[j]; k < idx.length; k++) wts[k] /= total;
  }
  return { start, count, index: Int32Array.from(idx), weight: Float64Array.from(wts), firstOut, lastIn };
}

export class AreaResampler {
  readonly output: Buffer;
  private readonly wx: AxisWeights;
  private readonly wy: AxisWeights;
  /** Float accumulators of the output rows still receiving input, by output row. */
  private readonly rowsOpen = new Map<number, Float64Array>();
  /** Accumulators of flushed rows, zeroed, for the rows still to open (a strip's worth, not one per row). */
  private readonly spareRows: Float64Array[] = [];
  /** The horizontal pass of one block row. */
  private tmp = new Float64Array(0);
  private nextRowToFlush = 0;

  constructor(
    readonly inWidth: number,
    readonly inHeight: number,
    readonly outWidth: number,
    readonly outHeight: number,
    private readonly sink?: RowSink,
    private readonly rowPool?: BufferPool,
  ) {
    this.output = Buffer.alloc(sink ? 0 : outWidth * outHeight * 3);
    this.wx = axisWeights(inWidth, outWidth);
    this.wy = axisWeights(inHeight, outHeight);
  }

  /** Add a block of input pixels (RGB, bw x bh) whose top-left input pixel is (bx, by). */
  addBlock(rgb: Buffer, bx: number, by: number, bw: number, bh: number): void {
    const { wx, wy } = this;
    const bxEnd = bx + bw;
    const j0 = wx.firstOut[bx];
    const j1 = this.lastOutOf(wx, bxEnd - 1);
    const cols = j1 - j0 + 1;
    if (this.tmp.length < cols * 3) this.tmp = new Float64Array(cols * 3);
    const tmp = this.tmp;
    for (let r = 0; r < bh; r++) {
      const y = by + r;
      if (y >= this.inHeight) break;
      const rowOff = r * bw * 3;
      // Horizontal pass over this row's part in the block.
      for (let j = j0, t = 0; j <= j1; j++, t += 3) {
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        const end = wx.start[j] + wx.count[j];
        for (let k = wx.start[j]; k < end; k++) {
          const i = wx.index[k];
          if (i < bx || i >= bxEnd) continue;
          const w = wx.weight[k];
          const p = rowOff + (i - bx) * 3;
          s0 += w * rgb[p];
          s1 += w * rgb[p + 1];
          s2 += w * rgb[p + 2];
        }
        tmp[t] = s0;
        tmp[t + 1] = s1;
        tmp[t + 2] = s2;
      }
      // Vertical pass: this input row's share of each output row it falls in.
      for (let j = wy.firstOut[y]; j < this.outHeight && j >= 0; j++) {
        const w = this.weightOf(wy, j, y);
        if (w === 0) break;
        let acc = this.rowsOpen.get(j);
        if (!acc) {
          acc = this.spareRows.pop() ?? new Float64Array(this.outWidth * 3);
          this.rowsOpen.set(j, acc);
        }
        for (let t = 0, o = j0 * 3; t < cols * 3; t++, o++) acc[o] += w * tmp[t];
      }
    }
  }

  /** Write out every output row whose inputs all lie above input row `inY` (call after each full strip). */
  flushRowsBefore(inY: number): void {
    const first = this.nextRowToFlush;
    let last = first;
    while (last < this.outHeight && this.wy.lastIn[last] < inY) last++;
    if (last === first) return;
    this.nextRowToFlush = last;
    const rowBytes = this.outWidth * 3;
    const bytes = (last - first) * rowBytes;
    const out = this.sink ? (this.rowPool ? this.rowPool.take(bytes).fill(0) : Buffer.alloc(bytes)) : this.output;
    const base = this.sink ? first * rowBytes : 0;
    for (let j = first; j < last; j++) {
      const acc = this.rowsOpen.get(j);
      if (!acc) continue;
      const o = j * rowBytes - base;
      for (let t = 0; t < acc.length; t++) out[o + t] = Math.min(255, Math.round(acc[t]));
      this.rowsOpen.delete(j);
      this.spareRows.push(acc.fill(0));
    }
    this.sink?.(first, last - first, out);
  }

  /** The resized image (empty with a row sink); call once every input row has been added. */
  finish(): Buffer {
    this.flushRowsBefore(this.inHeight);
    return this.output;
  }

  private lastOutOf(w: AxisWeights, i: number): number {
    let j = w.firstOut[i];
    while (j + 1 < w.start.length && this.weightOf(w, j + 1, i) > 0) j++;
    return j;
  }

  private weightOf(w: AxisWeights, j: number, i: number): number {
    const end = w.start[j] + w.count[j];
    for (let k = w.start[j]; k < end; k++) if (w.index[k] === i) return w.weight[k];
    return 0;
  }
}
