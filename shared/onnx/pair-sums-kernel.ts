/**
 * A tile's 2 x 2 block sums (tensor.ts blockSums at k = 2, what embed sends a model wrapped for sums) as a
 * WebAssembly SIMD kernel: per 16 pixels of two rows, each channel's 16 bytes gathered from the row's 48 by two
 * shuffles, their adjacent pairs summed into eight 16-bit lanes (extadd_pairwise), the two rows added, stored: the
 * 8 sums of that channel's plane in one store. The tile is decoded straight into the kernel's memory (`pixels`), so
 * nothing is copied in. On the 443 tiles of CMU-1 replicated, decoding and summing took 0.19 ms of the stage's
 * thread a tile against 0.25 with the word-at-a-time JavaScript, the sums ~0.09 ms against ~0.15
 * (scripts/bench/pair-sums.ts), the same sums; embed's thread 0.54-0.70 ms a tile against 0.65-0.81.
 */
import { type Code, pagesFor, wasm, wasmModule } from '../wasm/encode.js';

/** pixels a step of the kernel takes from each of the two rows */
const STEP = 16;

/** Whether the kernel takes tiles of `side` px: whole steps, and sums that fit a 16-bit lane (always, at 2 x 2). */
export function pairSumsFit(side: number): boolean {
  return Number.isInteger(side) && side > 0 && side % STEP === 0;
}

/**
 * sums(side): the tile of `side` x `side` RGB bytes at 0 to its three planes of (side/2)^2 uint16 sums, from byte
 * side^2 x 3 (the planes one after another, R, G, B).
 */
function pairSumsKernel(): Code {
  const { get, set, i32, add, mul, shl, shrU, geU, v128Load, v128Store, shuffle, pairSumsU8, addI16x8 } = wasm;
  const { block, loop, brIf, increment } = wasm;
  const side = 0;
  const [rowBytes, planeBytes, a, rowEnd, o, y, m] = [1, 2, 3, 4, 5, 6, 7];
  // channel c of the 16 pixels at `at`: bytes c, c + 3, ..., c + 45 of its 48, from the first 32, then the rest
  const gather = (c: number, at: Code) => {
    const positions = Array.from({ length: STEP }, (_, i) => c + 3 * i);
    const first = positions.map((p) => (p < 32 ? p : 0));
    const rest = positions.map((p, i) => (p < 32 ? i : p - 16));
    return shuffle(shuffle(v128Load(at, 0), v128Load(at, 16), first), v128Load(at, 32), rest);
  };
  const channel = (c: number) =>
    v128Store(
      add(get(o), mul(get(planeBytes), i32(c))),
      addI16x8(pairSumsU8(gather(c, get(a))), pairSumsU8(gather(c, add(get(a), get(rowBytes))))),
    );
  return [
    ...set(rowBytes, mul(get(side), i32(3))),
    ...set(m, shrU(get(side), i32(1))),
    ...set(planeBytes, shl(mul(get(m), get(m)), i32(1))),
    ...set(o, mul(get(rowBytes), get(side))),
    ...block(
      loop(
        brIf(1, geU(get(y), get(m))),
        // rows 2y and 2y + 1
        set(a, mul(shl(get(y), i32(1)), get(rowBytes))),
        set(rowEnd, add(get(a), get(rowBytes))),
        block(
          loop(
            brIf(1, geU(get(a), get(rowEnd))),
            channel(0),
            channel(1),
            channel(2),
            increment(a, 3 * STEP),
            increment(o, STEP),
            brIf(0, i32(1)),
          ),
        ),
        increment(y, 1),
        brIf(0, i32(1)),
      ),
    ),
  ];
}

const modules = new Map<number, WebAssembly.Module>();

/** 2 x 2 block sums of tiles of one side, in a memory of this thread's own. */
export class PairSums {
  /** Where the next tile is decoded: side x side x 3 bytes, packed RGB. */
  readonly pixels: Buffer;
  private readonly planes: Uint16Array;
  private readonly kernel: (side: number) => void;

  constructor(readonly side: number) {
    if (!pairSumsFit(side)) throw new Error(`pair sums take tiles whose side is a multiple of ${STEP} px, not ${side}`);
    const pixelBytes = side * side * 3;
    const sumBytes = (pixelBytes / 4) * 2;
    const pages = pagesFor(pixelBytes + sumBytes);
    let module = modules.get(pages);
    if (!module) {
      module = new WebAssembly.Module(
        wasmModule({
          memoryPages: pages,
          shared: false,
          globals: [],
          functions: [{ name: 'sums', params: 1, locals: 7, results: 0, body: pairSumsKernel() }],
        }),
      );
      modules.set(pages, module);
    }
    // this thread's alone: unshared, so the decode's copies into it are memmoves (encode.ts `shared`)
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    this.kernel = new WebAssembly.Instance(module, { env: { memory } }).exports.sums as (side: number) => void;
    this.pixels = Buffer.from(memory.buffer, 0, pixelBytes);
    this.planes = new Uint16Array(memory.buffer, pixelBytes, sumBytes / 2);
  }

  /** The sums of the tile now in `pixels` into tile `index` of `dst`, as blockSums(dst, index, pixels, side, 2). */
  sums(dst: Uint16Array, index: number): void {
    this.kernel(this.side);
    dst.set(this.planes, index * this.planes.length);
  }
}
