/**
 * The colour table's look-up kernel (WebAssembly, colour-table-kernel.ts) against the rule it implements, written
 * out plainly here: pixels of a known colour answered, every other pixel a hole, each colour never asked asked once.
 * And the small WebAssembly encoder it is built with.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { PIECE_PIXELS, SLOT } from '../../shared/onnx/colour-table-kernel.js';
import { ColourTable } from '../../shared/onnx/colour-table.js';
import { sleb, uleb, wasm, wasmModule } from '../../shared/wasm/encode.js';
import { channelAnswer, noise } from './helpers.js';

const answer = channelAnswer;
const colourOf = (px: Uint8Array, p: number) => (px[p] << 16) | (px[p + 1] << 8) | px[p + 2];

/** The rule: `known` colours answered, the rest holes; colours neither known nor `pending` asked once, in order. */
function expected(pixels: Uint8Array, known: Set<number>, pending: Set<number>) {
  const holes: number[] = [];
  const asks: number[] = [];
  const asked = new Set(pending);
  for (let p = 0; p < pixels.length; p += 3) {
    const c = colourOf(pixels, p);
    if (known.has(c)) continue;
    holes.push(p);
    if (!asked.has(c)) {
      asked.add(c);
      asks.push(pixels[p], pixels[p + 1], pixels[p + 2]);
    }
  }
  return { holes, asks };
}

describe('the colour table look-up kernel', () => {
  it('answers known colours, leaves holes and asks each new colour once, across pieces of the scratch', () => {
    const table = new ColourTable();
    // few levels, so colours repeat within and across pieces; 2.5 pieces so a tile spans three calls of the kernel
    const seen = noise(PIECE_PIXELS, 3, 24);
    const pixels = new Uint8Array(3 * Math.floor(2.5 * PIECE_PIXELS));
    pixels.set(noise(pixels.length / 3, 5, 24));
    pixels.set(seen.subarray(0, 3 * 1000), 3 * 2000); // some colours of `seen` inside the tile
    // learn the colours of `seen`, ask (and leave pending) one more
    const out = new Uint8Array(pixels.length);
    const holes = new Int32Array(pixels.length / 3);
    const asks = new Uint8Array(pixels.length + 3);
    const first = table.lookUp(seen, new Uint8Array(seen.length), holes, asks, 0);
    table.learn(asks, asks.map(answer), first.askedBytes);
    const known = new Set<number>();
    for (let p = 0; p < seen.length; p += 3) known.add(colourOf(seen, p));
    const pendingPixel = Uint8Array.from([200, 201, 202]);
    assert.equal(table.lookUp(pendingPixel, new Uint8Array(3), holes, asks, 0).askedBytes, 3);
    pixels.set(pendingPixel, 3 * 5000);
    const want = expected(pixels, known, new Set([colourOf(pendingPixel, 0)]));
    // asks appended after 3 bytes already there
    asks.fill(0);
    const got = table.lookUp(pixels, out, holes, asks, 3);
    assert.ok(want.holes.at(-1)! > 6 * PIECE_PIXELS && want.holes.length < pixels.length / 3, 'holes in every piece');
    assert.equal(got.holes, want.holes.length);
    assert.deepEqual([...holes.subarray(0, got.holes)], want.holes);
    assert.equal(got.askedBytes, 3 + want.asks.length);
    assert.deepEqual([...asks.subarray(3, got.askedBytes)], want.asks);
    const holeSet = new Set(want.holes);
    for (let p = 0; p < pixels.length; p += 3)
      if (!holeSet.has(p)) assert.deepEqual([...out.subarray(p, p + 3)], [...pixels.subarray(p, p + 3)].map(answer));
    // once the asks are learnt, fill answers every hole but the pending colour's
    table.learn(asks.subarray(3), asks.subarray(3).map(answer), got.askedBytes - 3);
    assert.equal(table.fill(pixels, out, holes, got.holes), 1);
    assert.equal(holes[0], 3 * 5000);
  });

  it('gives two threads, each in its own slot of one memory, the same table', () => {
    const mine = new ColourTable();
    const theirs = new ColourTable(mine.memory, SLOT.worker);
    const pixels = noise(3000, 9, 16);
    const holes = new Int32Array(3000);
    const asks = new Uint8Array(pixels.length);
    const { askedBytes } = theirs.lookUp(pixels, new Uint8Array(pixels.length), holes, asks, 0);
    assert.equal(mine.lookUp(pixels, new Uint8Array(pixels.length), holes, asks, 0).askedBytes, 0, 'asked already');
    theirs.learn(asks, asks.map(answer), askedBytes);
    const out = new Uint8Array(pixels.length);
    assert.equal(mine.lookUp(pixels, out, holes, asks, 0).holes, 0);
    assert.deepEqual(out, pixels.map(answer));
  });
});

describe('the WebAssembly encoder', () => {
  it('writes LEB128 as the format says', () => {
    assert.deepEqual(uleb(0), [0]);
    assert.deepEqual(uleb(624485), [0xe5, 0x8e, 0x26]);
    assert.deepEqual(sleb(-123456), [0xc0, 0xbb, 0x78]);
    assert.deepEqual(sleb(64), [0xc0, 0x00]);
    assert.deepEqual(sleb(1 << 25), [0x80, 0x80, 0x80, 0x10]);
    assert.throws(() => uleb(-1), /not an unsigned integer/);
  });

  it('makes a module that runs: a global and a function over its shared memory', () => {
    const bytes = wasmModule({
      memoryPages: 1,
      globals: ['last'],
      functions: [
        {
          name: 'addAt',
          params: 2,
          locals: 0,
          results: 1,
          // memory[a] += b as an i32; last = b; returns the sum
          body: [
            ...wasm.store(wasm.get(0), wasm.add(wasm.load(wasm.get(0)), wasm.get(1))),
            ...wasm.setGlobal(0, wasm.get(1)),
            ...wasm.load(wasm.get(0)),
          ],
        },
      ],
    });
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    new Int32Array(memory.buffer)[2] = 40;
    assert.equal((exports.addAt as (a: number, b: number) => number)(8, 2), 42);
    assert.equal((exports.last as WebAssembly.Global).value, 2);
  });
});
