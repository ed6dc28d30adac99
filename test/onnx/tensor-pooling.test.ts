import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stainNetCard } from '../../scripts/models/stainnet.js';
import sharp from 'sharp';
import { decodeRgb, resizeForModel } from '../../shared/image.js';
import { parseModelCard } from '../../shared/onnx/card.js';
import { runOverlapped } from '../../shared/onnx/inference.js';
import { poolFeatures } from '../../shared/onnx/pooling.js';
import { blockSums, fillInput, outputToRgb, sumsBatch } from '../../shared/onnx/tensor.js';

/** The k x k means of an RGB image as floats, by hand: the reference the fused mean in fillInput must match. */
function meansByHand(data: Uint8Array, width: number, height: number, k: number): Float32Array {
  const out = new Float32Array((width / k) * (height / k) * 3);
  for (let y = 0; y < height / k; y++)
    for (let x = 0; x < width / k; x++)
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let dy = 0; dy < k; dy++)
          for (let dx = 0; dx < k; dx++) sum += data[((y * k + dy) * width + x * k + dx) * 3 + c];
        out[(y * (width / k) + x) * 3 + c] = sum / (k * k);
      }
  return out;
}

describe('tensors, pooling, resizing', () => {
  it('StainNet input is (rgb/255 - 0.5)/0.5 NCHW and the output maps back to the same bytes', () => {
    const card = parseModelCard(stainNetCard('s'));
    const rgb = Uint8Array.from([0, 128, 255, 10, 20, 30]); // 1x2 pixels
    const x = new Float32Array(2 * 6);
    fillInput(x, 1, rgb, 1, 2, card.input);
    assert.deepEqual(Array.from(x.slice(0, 6)), [0, 0, 0, 0, 0, 0], 'tile 0 untouched');
    const expected = [0, 10, 128, 20, 255, 30].map((p) => (p / 255 - 0.5) / 0.5); // R plane, G plane, B plane
    Array.from(x.slice(6)).forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-6));
    assert.deepEqual(Array.from(outputToRgb(x, 1, 1, 2, card.output)), Array.from(rgb));
    const out = Float32Array.from([2, -2, 0, 0, 0, 0]);
    assert.deepEqual(
      Array.from(outputToRgb(out, 0, 1, 2, card.output)),
      [255, 128, 128, 0, 128, 128],
      'clamped, rounded',
    );
  });

  it('the 2x2 mean is the exact half-pixel bilinear 2x downscale', async () => {
    const data = Buffer.from(
      [0, 0, 0, 10, 20, 30, 100, 100, 100, 1, 2, 3, 5, 5, 5, 7, 7, 7, 9, 9, 9, 255, 255, 255].concat(
        new Array(24).fill(0),
      ),
    );
    const img = { data, width: 4, height: 4 };
    // fillInput with an identity card (scale 1, mean 0, std 1, NHWC) writes the 2x2 means themselves
    const identity = { name: 'x', layout: 'NHWC' as const, size: 2, scale: 1, mean: [0, 0, 0], std: [1, 1, 1] };
    const d = new Float32Array(2 * 2 * 3);
    fillInput(d, 0, img.data, 2, 2, identity as Parameters<typeof fillInput>[5], 2);
    assert.deepEqual(Array.from(d.slice(0, 3)), [(0 + 10 + 5 + 7) / 4, (0 + 20 + 5 + 7) / 4, (0 + 30 + 5 + 7) / 4]);
    assert.equal((await resizeForModel(img, 2)).method, '2x2-mean');
    assert.equal((await resizeForModel(img, 4)).method, 'none');
    const odd = await resizeForModel(img, 3);
    assert.equal(odd.method, 'sharp-linear');
    assert.equal(odd.data.length, 27);
  });

  it('fillInput with k takes the k x k mean in the same pass: the very floats of the means by hand then fillInput', () => {
    const card = parseModelCard(stainNetCard('s'));
    for (const layout of ['NCHW', 'NHWC'] as const)
      for (const k of [2, 3]) {
        const spec = { ...card.input, layout, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
        const side = 5;
        const data = Buffer.alloc(side * k * side * k * 3);
        for (let i = 0; i < data.length; i++) data[i] = (i * 7919 + 13) % 256;
        const mean = { data: meansByHand(data, side * k, side * k, k) };
        const twoPass = new Float32Array(2 * side * side * 3);
        const onePass = new Float32Array(2 * side * side * 3);
        fillInput(twoPass, 1, mean.data, side, side, spec);
        fillInput(onePass, 1, data, side, side, spec, k);
        assert.deepEqual(Array.from(onePass), Array.from(twoPass), `${layout}, k = ${k}`);
      }
    assert.throws(() => fillInput(new Float32Array(12), 0, new Uint8Array(12), 1, 2, card.input, 2), /expected 2x4x3/);
  });

  it('block sums are each k x k block summed per channel, planar, word-wise or byte-wise alike (aligned or not)', () => {
    const byHand = (px: Uint8Array, side: number, k: number) => {
      const m = side / k;
      const out = new Uint16Array(3 * m * m);
      for (let c = 0; c < 3; c++)
        for (let y = 0; y < side; y++)
          for (let x = 0; x < side; x++)
            out[c * m * m + Math.floor(y / k) * m + Math.floor(x / k)] += px[(y * side + x) * 3 + c];
      return out;
    };
    for (const [side, k] of [
      [8, 2], // word-wise (sides a multiple of 4, aligned)
      [6, 2], // byte-wise: rows of 18 bytes
      [12, 4],
      [16, 16], // the largest block whose sum fits 16 bits
    ]) {
      for (const fill of ['ramp', 'white'] as const) {
        const backing = new Uint8Array(side * side * 3 + 1);
        for (let i = 0; i < backing.length; i++) backing[i] = fill === 'white' ? 255 : (i * 7919 + 13) % 256;
        for (const offset of [0, 1]) {
          const px = backing.subarray(offset, offset + side * side * 3);
          const m = side / k;
          const dst = new Uint16Array(2 * 3 * m * m).fill(7);
          blockSums(dst, 1, px, side, k);
          const label = `${side} px, k = ${k}, ${fill}, offset ${offset}`;
          assert.deepEqual(Array.from(dst.subarray(0, 3 * m * m)), new Array(3 * m * m).fill(7), label);
          assert.deepEqual(Array.from(dst.subarray(3 * m * m)), Array.from(byHand(px, side, k)), label);
        }
      }
    }
    assert.throws(() => blockSums(new Uint16Array(12), 0, new Uint8Array(12), 4, 2), /expected 4x4x3/);
    assert.throws(() => blockSums(new Uint16Array(27), 0, new Uint8Array(27), 3, 2), /no whole 2 x 2 blocks/);
    const { data, dims } = sumsBatch([Uint16Array.of(1, 2, 3), Uint16Array.of(4, 5, 6)], 1);
    assert.deepEqual(
      [Array.from(data), dims],
      [
        [1, 2, 3, 4, 5, 6],
        [2, 3, 1, 1],
      ],
    );
    assert.throws(() => sumsBatch([new Uint16Array(4)], 1), /4 sums, expected 3x1x1/);
  });

  it('decodes greyscale and RGBA tiles to RGB', async () => {
    const grey = await sharp(Buffer.from([0, 100, 200, 255]), { raw: { width: 2, height: 2, channels: 1 } })
      .png()
      .toBuffer();
    const g = await decodeRgb(grey);
    assert.deepEqual(Array.from(g.data), [0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255]);
    const rgba = await sharp(Buffer.from([10, 20, 30, 255, 40, 50, 60, 255]), {
      raw: { width: 2, height: 1, channels: 4 },
    })
      .png()
      .toBuffer();
    assert.deepEqual(Array.from((await decodeRgb(rgba)).data), [10, 20, 30, 40, 50, 60]);
  });

  it('pools maps, tokens (skipping a class token) and pooled outputs', () => {
    // 1 tile, C=2, H=1, W=3 in NCHW
    const nchw = poolFeatures(Float32Array.from([1, 2, 6, -1, -2, -3]), [1, 2, 1, 3], 'NCHW');
    assert.deepEqual(Array.from(nchw.avg), [3, -2]);
    assert.deepEqual(Array.from(nchw.max), [6, -1]);
    const nhwc = poolFeatures(Float32Array.from([1, -1, 2, -2, 6, -3]), [1, 1, 3, 2], 'NHWC');
    assert.deepEqual(Array.from(nhwc.avg), [3, -2]);
    const nlc = poolFeatures(Float32Array.from([100, 100, 1, -1, 2, -2, 6, -3]), [1, 4, 2], 'NLC', 1);
    assert.deepEqual(Array.from(nlc.avg), [3, -2]);
    assert.deepEqual(Array.from(nlc.max), [6, -1]);
    const nc = poolFeatures(Float32Array.from([1, 2, 3, 4]), [2, 2], 'NC');
    assert.deepEqual([nc.n, nc.dim], [2, 2]);
    assert.deepEqual(Array.from(nc.max), [1, 2, 3, 4]);
    assert.throws(() => poolFeatures(new Float32Array(6), [1, 6], 'NCHW'), /\[1,6\].*NCHW needs rank 4/);
  });

  it('runOverlapped consumes in order with up to `depth` batches in flight', async () => {
    let inFlight = 0;
    let peak = 0;
    const consumed: number[] = [];
    async function* source() {
      for (let i = 0; i < 6; i++) yield i;
    }
    await runOverlapped(
      source(),
      async (b) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((r) => setTimeout(r, (6 - b) * 2));
        inFlight--;
        return b * 10;
      },
      (b, r) => void consumed.push(b, r),
    );
    assert.deepEqual(consumed, [0, 0, 1, 10, 2, 20, 3, 30, 4, 40, 5, 50]);
    assert.equal(peak, 2);
  });

  it('runOverlapped with prefetch asks for the next batch before consuming the oldest, the order kept', async () => {
    for (const prefetch of [false, true]) {
      const events: string[] = [];
      async function* source() {
        for (let i = 0; i < 4; i++) {
          events.push(`made ${i}`);
          yield i;
        }
      }
      await runOverlapped(
        source(),
        async (b) => b * 10,
        (b, r) => void events.push(`consumed ${b}:${r}`),
        { depth: 2, prefetch },
      );
      const at = (e: string) => events.indexOf(e);
      assert.deepEqual(
        events.filter((e) => e.startsWith('consumed')),
        ['consumed 0:0', 'consumed 1:10', 'consumed 2:20', 'consumed 3:30'],
      );
      // with two in flight, batch 2 is made before batch 0 is consumed only when asked for ahead
      assert.equal(at('made 2') < at('consumed 0:0'), prefetch, events.join(', '));
    }
  });

  it('runOverlapped closes its source when a batch fails, prefetching or not', async () => {
    for (const prefetch of [false, true]) {
      let closed = false;
      async function* source() {
        try {
          for (let i = 0; i < 10; i++) yield i;
        } finally {
          closed = true;
        }
      }
      await assert.rejects(
        runOverlapped(
          source(),
          async (b) => {
            if (b === 3) throw new Error('batch 3 failed');
            return b;
          },
          () => undefined,
          { prefetch },
        ),
        /batch 3 failed/,
      );
      assert.ok(closed, `source closed (prefetch ${prefetch})`);
    }
  });
});
