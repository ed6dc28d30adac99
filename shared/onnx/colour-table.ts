/**
 * A pixel-by-pixel model's answer for every colour it has been asked, so that each colour runs through the model
 * once and every later pixel of that colour takes the answer. For a model whose output pixel is a function of its
 * input pixel alone (StainNet; stages/normalize/pixelwise.ts says which are) this gives the pixels a run over every
 * pixel gives, and an H&E slide repeats its colours many times over: the 443 tiles of CMU-1 replicated hold 745k
 * colours in 89M pixels, the real tissue of the CMU-1 small region 856k in 4.8M. The inference worker keeps one
 * per session, so later slides of the same model ask only the colours they add. The table lives in shared memory:
 * the stage's thread and the inference worker look up the same batch at once (chunked-lookup.ts).
 *
 * One entry per 24-bit colour: 0 unknown, PENDING asked and not answered yet, KNOWN | the answer's RGB once
 * answered. The look-up, once per pixel, is a WebAssembly kernel (colour-table-kernel.ts) over a shared WebAssembly
 * memory that holds the table; its pages are zero until written, so a slide's palette costs the pages its colours
 * fall in (the 443 tiles above: 31 of the 64 MiB).
 */
import {
  B_KEY,
  COLOURS,
  createLookUp,
  G_KEY,
  KNOWN,
  type LookUp,
  newTableMemory,
  R_KEY,
  SLOT,
} from './colour-table-kernel.js';

export class ColourTable {
  private readonly answers: Uint32Array;
  private readonly kernel: LookUp;

  /**
   * A table in `memory` (one another thread holds too), or in new shared memory. `slot`: this thread's scratch in
   * that memory (colour-table-kernel.ts SLOT), different for each thread that looks up in the same table.
   */
  constructor(
    readonly memory = newTableMemory(),
    slot: number = SLOT.stage,
  ) {
    this.kernel = createLookUp(memory, slot);
    this.answers = new Uint32Array(memory.buffer, 0, COLOURS);
  }

  /**
   * One pass over a tile: the answer of every pixel whose colour is known goes into `out` (packed RGB, the size of
   * `pixels`; the bytes of the other pixels are left undefined until fill); the byte offsets of the other pixels go
   * into `holes`, and each colour never asked before goes once into `asks` (packed RGB, from byte `askedBytes`),
   * marked asked. Returns the count of holes and the new end of `asks`. `holes` and `asks` must have room for every
   * pixel of the tile. A colour is marked asked by one thread only (compare-and-swap from unknown): when two threads
   * meet a new colour at once, one asks it.
   */
  lookUp(
    pixels: Uint8Array,
    out: Uint8Array,
    holes: Int32Array,
    asks: Uint8Array,
    askedBytes: number,
  ): { holes: number; askedBytes: number } {
    return this.kernel(pixels, out, holes, asks, askedBytes);
  }

  /** Records the model's answers (packed RGB, `outputs`) to the first `bytes` bytes of asked colours `asks`. */
  learn(asks: Uint8Array, outputs: Uint8Array, bytes: number): void {
    const answers = this.answers;
    for (let p = 0; p < bytes; p += 3) {
      const key = R_KEY[asks[p]] | G_KEY[asks[p + 1]] | B_KEY[asks[p + 2]];
      answers[key] = KNOWN | (outputs[p] << 16) | (outputs[p + 1] << 8) | outputs[p + 2];
    }
  }

  /** The asked colours of `asks` (its first `bytes` bytes) made unknown again: their run failed. */
  forget(asks: Uint8Array, bytes: number): void {
    const answers = this.answers;
    for (let p = 0; p < bytes; p += 3) answers[R_KEY[asks[p]] | G_KEY[asks[p + 1]] | B_KEY[asks[p + 2]]] = 0;
  }

  /**
   * The holes lookUp left in `out` filled with the answers learnt so far (the asks of this tile's batch and of the
   * batches before it). A hole whose colour is still unanswered (asked by a later batch, whose look-up ran ahead in
   * the other thread) stays: such holes move to the front of `holes`; returns how many.
   */
  fill(pixels: Uint8Array, out: Uint8Array, holes: Int32Array, count: number): number {
    const answers = this.answers;
    let left = 0;
    for (let i = 0; i < count; i++) {
      const p = holes[i];
      const v = answers[R_KEY[pixels[p]] | G_KEY[pixels[p + 1]] | B_KEY[pixels[p + 2]]];
      if (!(v & KNOWN)) {
        holes[left++] = p;
        continue;
      }
      out[p] = v >>> 16;
      out[p + 1] = v >>> 8;
      out[p + 2] = v;
    }
    return left;
  }
}
