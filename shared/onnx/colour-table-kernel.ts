/**
 * The colour table's layout in its shared WebAssembly memory, and its look-up as a WebAssembly kernel: the one loop
 * that runs for every pixel normalize writes. On the 443 tiles of CMU-1 replicated (a warm table, one thread) the same
 * loop in JavaScript took 14.6-16.5 ns a pixel, ~10 of it the loop's own work and bounds checks, this kernel 5.1-6.2
 * ns, with the same answers (scripts/bench/colour-lookup.ts); in normalize's loop it took the stage's CPU from
 * 8.5-10 ms a tile to 7.0-7.3.
 *
 * The memory: the table's 2^24 entries (colour-table.ts) from byte 0, the three key tables after it, then a scratch
 * region per thread (a slot) into which a piece of pixels is copied, looked up, and copied out. Both threads that
 * share a table instantiate the kernel over the same memory, each with its own slot.
 */
import { adviseHugePages } from '../huge-pages.js';
import { type Code, pagesFor, WASM_PAGE, wasm, wasmModule } from '../wasm/encode.js';
import { CHUNK_PIXELS } from './chunked-lookup.js';

/** Answers carry bit 24 (the table's values stay small integers, which V8 keeps unboxed). */
export const KNOWN = 1 << 24;
export const PENDING = 1 << 25;
export const COLOURS = 1 << 24;
export const TABLE_BYTES = COLOURS * 4;

/**
 * A colour's entry: its bits interleaved r7 g7 b7 r6 g6 b6 ... (Morton order), so that colours a few levels apart,
 * as neighbouring pixels are, lie close in the table and share its cache lines and pages.
 */
const SPREAD = new Int32Array(256).map((_, v) => {
  let s = 0;
  for (let bit = 0; bit < 8; bit++) if (v & (1 << bit)) s |= 1 << (3 * bit);
  return s;
});
export const R_KEY = SPREAD.map((s) => s << 2);
export const G_KEY = SPREAD.map((s) => s << 1);
export const B_KEY = SPREAD;

/** The threads that look up in one table at once, each in its own scratch slot. */
export const SLOT = { stage: 0, worker: 1 } as const;
const SLOTS = Object.keys(SLOT).length;
/** Pixels per call of the kernel, its scratch's size: a ChunkedLookUp chunk, so that a chunk is one call. */
export const PIECE_PIXELS = CHUNK_PIXELS;

const KEYS_AT = TABLE_BYTES;
const SCRATCH_AT = KEYS_AT + 4096;
const PIECE_BYTES = 3 * PIECE_PIXELS;
/** per slot: the piece's pixels, their answers, its holes (i32), its asks */
const SLOT_BYTES = 3 * PIECE_BYTES + 4 * PIECE_PIXELS;
export const MEMORY_PAGES = pagesFor(SCRATCH_AT + SLOTS * SLOT_BYTES);

/**
 * lookUp(pixels, count, out, holes, asks, base) -> holes: `count` packed RGB pixels from byte `pixels`; each known
 * colour's answer to `out`, each other pixel's byte offset plus `base` to the i32s at `holes`, each unknown colour
 * marked PENDING (compare-and-swap from 0, so one thread asks it) and its RGB appended at `asks`; the global `asked`
 * says how many bytes of asks it wrote.
 */
function lookUpKernel(): Code {
  const { get, set, tee, i32, add, sub, mul, and, or, shl, shrU, ltU, geU, eqz } = wasm;
  const { load, load8U, store, store8, cmpxchg, block, loop, brIf, increment } = wasm;
  const [px, count, out, holes, asks, base] = [0, 1, 2, 3, 4, 5];
  const [end, h, at, key, v, delta] = [6, 7, 8, 9, 10, 11];
  // a channel's part of the key: its spread bits from the key table (R_KEY, G_KEY, B_KEY, 256 i32s each)
  const channelKey = (channel: number) => load(shl(load8U(get(px), channel), i32(2)), KEYS_AT + channel * 1024);
  const entry = shl(get(key), i32(2));
  return [
    ...set(end, add(get(px), mul(get(count), i32(3)))),
    // a hole's offset is its pixel's from the piece's start, plus `base`
    ...set(delta, sub(get(base), get(px))),
    ...block(
      brIf(0, geU(get(px), get(end))),
      loop(
        set(key, or(or(channelKey(0), channelKey(1)), channelKey(2))),
        wasm.if(
          and(tee(v, load(entry)), i32(KNOWN)),
          [
            store8(get(out), shrU(get(v), i32(16)), 0),
            store8(get(out), shrU(get(v), i32(8)), 1),
            store8(get(out), get(v), 2),
          ],
          [
            store(add(get(holes), shl(get(h), i32(2))), add(get(px), get(delta))),
            increment(h, 1),
            // never asked: ask it, unless another thread marks it first
            wasm.if(eqz(get(v)), [
              wasm.if(eqz(cmpxchg(entry, i32(0), i32(PENDING))), [
                store8(add(get(asks), get(at)), load8U(get(px), 0), 0),
                store8(add(get(asks), get(at)), load8U(get(px), 1), 1),
                store8(add(get(asks), get(at)), load8U(get(px), 2), 2),
                increment(at, 3),
              ]),
            ]),
          ],
        ),
        increment(out, 3),
        brIf(0, ltU(tee(px, add(get(px), i32(3))), get(end))),
      ),
    ),
    ...wasm.setGlobal(0, get(at)),
    ...get(h),
  ];
}

let compiled: WebAssembly.Module | undefined;
/** The kernel's module, compiled once per thread. */
function kernelModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(
    wasmModule({
      memoryPages: MEMORY_PAGES,
      globals: ['asked'],
      functions: [{ name: 'lookUp', params: 6, locals: 6, results: 1, body: lookUpKernel() }],
    }),
  );
  return compiled;
}

/**
 * A new table's memory: shared (another thread maps it), its entries all unknown, the key tables written, on huge
 * pages where the kernel gives them (huge-pages.ts).
 */
export function newTableMemory(): WebAssembly.Memory {
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial: MEMORY_PAGES, maximum: MEMORY_PAGES, shared: true });
  } catch (err) {
    throw new Error(
      `the colour table's shared WebAssembly memory (${MEMORY_PAGES * 64} KiB) could not be made: ${(err as Error).message}. ` +
        'A limit on virtual memory (ulimit -v) refuses the address space V8 reserves for it; set ' +
        'TESSELLA_COLOUR_TABLE: "off" in the spec\'s transform.env to run every pixel through the model instead',
    );
  }
  adviseHugePages(memory.buffer); // before the key tables' first touch
  const keys = new Int32Array(memory.buffer, KEYS_AT, 3 * 256);
  keys.set(R_KEY, 0);
  keys.set(G_KEY, 256);
  keys.set(B_KEY, 512);
  return memory;
}

export type LookUp = (
  pixels: Uint8Array,
  out: Uint8Array,
  holes: Int32Array,
  asks: Uint8Array,
  askedBytes: number,
) => { holes: number; askedBytes: number };

/** ColourTable.lookUp for this thread, over `memory` (newTableMemory's), in scratch slot `slot`. */
export function createLookUp(memory: WebAssembly.Memory, slot: number): LookUp {
  if (memory.buffer.byteLength !== MEMORY_PAGES * WASM_PAGE)
    throw new Error(
      `a colour table's memory is ${MEMORY_PAGES} pages of 64 KiB (${MEMORY_PAGES * WASM_PAGE} bytes), not ${memory.buffer.byteLength} bytes`,
    );
  if (!Number.isInteger(slot) || slot < 0 || slot >= SLOTS)
    throw new Error(`a colour table's scratch slot is 0..${SLOTS - 1}, not ${slot}`);
  const instance = new WebAssembly.Instance(kernelModule(), { env: { memory } });
  const kernel = instance.exports.lookUp as (...args: number[]) => number;
  const asked = instance.exports.asked as WebAssembly.Global;
  const bytes = new Uint8Array(memory.buffer);
  const pixelsAt = SCRATCH_AT + slot * SLOT_BYTES;
  const outAt = pixelsAt + PIECE_BYTES;
  const asksAt = outAt + PIECE_BYTES;
  const holesAt = asksAt + PIECE_BYTES;
  const holesOut = new Int32Array(memory.buffer, holesAt, PIECE_PIXELS);
  return (pixels, out, holes, asks, askedBytes) => {
    let h = 0;
    let at = askedBytes;
    for (let start = 0; start < pixels.length; start += PIECE_BYTES) {
      const end = Math.min(pixels.length, start + PIECE_BYTES);
      bytes.set(pixels.subarray(start, end), pixelsAt);
      const found = kernel(pixelsAt, (end - start) / 3, outAt, holesAt, asksAt, start);
      // the holes' bytes come too: undefined until ColourTable.fill writes them
      out.set(bytes.subarray(outAt, outAt + end - start), start);
      holes.set(holesOut.subarray(0, found), h);
      h += found;
      const askedHere = asked.value as number;
      asks.set(bytes.subarray(asksAt, asksAt + askedHere), at);
      at += askedHere;
    }
    return { holes: h, askedBytes: at };
  };
}
