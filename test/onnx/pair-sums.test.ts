import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { PairSums, pairSumsFit } from '../../shared/onnx/pair-sums-kernel.js';
import { blockSums } from '../../shared/onnx/tensor.js';
import { wasm, wasmModule } from '../../shared/wasm/encode.js';
import { noise } from './helpers.js';

/** 2 x 2 block sums the plain way: per channel, per block, the four bytes added. */
function plainSums(px: Uint8Array, side: number): Uint16Array {
  const m = side / 2;
  const out = new Uint16Array(3 * m * m);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < m; y++)
      for (let x = 0; x < m; x++) {
        const at = (yy: number, xx: number) => px[(yy * side + xx) * 3 + c];
        out[(c * m + y) * m + x] =
          at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1);
      }
  return out;
}

describe('the 2 x 2 block sums kernel', () => {
  it('gives the sums of every block, per channel, planar, at any side it takes', () => {
    for (const side of [16, 32, 48, 448, 512]) {
      const kernel = new PairSums(side);
      for (const px of [noise(side * side, side), new Uint8Array(side * side * 3).fill(255)]) {
        kernel.pixels.set(px);
        const got = new Uint16Array(2 * 3 * (side / 2) ** 2);
        kernel.sums(got, 1);
        const want = plainSums(px, side);
        assert.deepEqual(got.subarray(want.length), want, `side ${side}`);
        assert.ok(
          got.subarray(0, want.length).every((v) => v === 0),
          'tile 0 of the batch untouched',
        );
        // and the stage's JavaScript sums agree
        const js = new Uint16Array(want.length);
        blockSums(js, 0, px, side, 2);
        assert.deepEqual(js, want);
      }
    }
  });

  it('takes only sides of whole 16-pixel steps', () => {
    assert.equal(pairSumsFit(448), true);
    for (const side of [0, 8, 24, 450, 16.5]) {
      assert.equal(pairSumsFit(side), false);
      assert.throws(() => new PairSums(side), /multiple of 16 px/);
    }
  });
});

describe("the WebAssembly encoder's SIMD instructions", () => {
  // out = pairs(shuffle(a, b)) + pairs(b): 16 bytes at 0 and 16 at 16 in, eight u16 at 32 out
  const module = (shared: boolean) =>
    new WebAssembly.Module(
      wasmModule({
        memoryPages: 1,
        shared,
        globals: [],
        functions: [
          {
            name: 'run',
            params: 0,
            locals: 0,
            results: 0,
            body: wasm.v128Store(
              wasm.i32(32),
              wasm.addI16x8(
                // lanes 31, 30, ..., 16: b reversed
                wasm.pairSumsU8(
                  wasm.shuffle(
                    wasm.v128Load(wasm.i32(0)),
                    wasm.v128Load(wasm.i32(0), 16),
                    Array.from({ length: 16 }, (_, i) => 31 - i),
                  ),
                ),
                wasm.pairSumsU8(wasm.v128Load(wasm.i32(16))),
              ),
            ),
          },
        ],
      }),
    );

  it('shuffles lanes from two vectors, sums byte pairs unsigned, adds 16-bit lanes', () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1 });
    const bytes = new Uint8Array(memory.buffer);
    bytes.set(Array.from({ length: 32 }, (_, i) => (i < 16 ? 0 : 200 + i - 16)));
    (new WebAssembly.Instance(module(false), { env: { memory } }).exports.run as () => void)();
    const b = Array.from({ length: 16 }, (_, i) => 200 + i);
    const reversed = [...b].reverse();
    const want = Array.from({ length: 8 }, (_, k) => reversed[2 * k] + reversed[2 * k + 1] + b[2 * k] + b[2 * k + 1]);
    assert.deepEqual(Array.from(new Uint16Array(memory.buffer, 32, 8)), want);
  });

  it('imports its memory unshared or shared, as asked', () => {
    const plain = new WebAssembly.Memory({ initial: 1, maximum: 1 });
    const shared = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    assert.doesNotThrow(() => new WebAssembly.Instance(module(false), { env: { memory: plain } }));
    assert.doesNotThrow(() => new WebAssembly.Instance(module(true), { env: { memory: shared } }));
    assert.throws(() => new WebAssembly.Instance(module(false), { env: { memory: shared } }), /shared|memory/i);
  });

  it('refuses a shuffle that is not 16 lanes of 0-31', () => {
    assert.throws(() => wasm.shuffle(wasm.i32(0), wasm.i32(0), [32, ...Array(15).fill(0)]), /16 lane indices/);
    assert.throws(() => wasm.shuffle(wasm.i32(0), wasm.i32(0), [0, 1]), /16 lane indices/);
  });
});
