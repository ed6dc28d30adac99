import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { parseModelCard, type ModelCard } from '../../shared/onnx/card.js';
import { encodeModel, type Node } from '../../shared/onnx/onnx-proto.js';
import {
  PIXELS_INPUT,
  POOLED_OUTPUT,
  wrapWithPixelIo,
  type PixelIoRequest,
  type PoolRequest,
} from '../../shared/onnx/pixel-io.js';
import { poolFeatures } from '../../shared/onnx/pooling.js';
import { mulberry32 } from '../../shared/random.js';

const S = 12;
const C = 24;

/**
 * A feature model of `S` px: a 1x1 convolution to `C` channels, then each value times itself plus the value, so the
 * map's values span several orders of magnitude and both signs (a float64 sum's order could show in the last bit).
 * `positions`: 'fixed' declares the map's H and W, 'free' leaves them symbolic.
 */
function featureModel(layout: 'NCHW' | 'NHWC', opset: number, positions: 'fixed' | 'free'): Buffer {
  const rand = mulberry32(7);
  const weights = Float32Array.from({ length: C * 3 }, () => (rand() - 0.5) * 8);
  const side: number | string = positions === 'fixed' ? S : 'H';
  const nodes: Node[] = [
    { opType: 'Conv', inputs: ['input', 'w'], outputs: ['conv'], attributes: { kernel_shape: [1, 1] } },
    { opType: 'Mul', inputs: ['conv', 'conv'], outputs: ['squared'] },
    { opType: 'Add', inputs: ['squared', 'conv'], outputs: [layout === 'NCHW' ? 'features' : 'nchw'] },
  ];
  if (layout === 'NHWC')
    nodes.push({ opType: 'Transpose', inputs: ['nchw'], outputs: ['features'], attributes: { perm: [0, 2, 3, 1] } });
  return encodeModel(
    {
      name: 'features',
      inputs: [{ name: 'input', dims: ['N', 3, side, side] }],
      outputs: [{ name: 'features', dims: layout === 'NCHW' ? ['N', C, side, side] : ['N', side, side, C] }],
      initializers: [{ name: 'w', dims: [C, 3, 1, 1], data: weights }],
      nodes,
    },
    opset,
  );
}

function card(layout: 'NCHW' | 'NHWC'): ModelCard {
  return parseModelCard({
    name: 'features',
    task: 'embed',
    input: { name: 'input', layout: 'NCHW', size: S, scale: 1 / 255, mean: [0.5, 0.4, 0.3], std: [0.2, 0.3, 0.25] },
    output: { name: 'features', layout },
  });
}

async function run(model: Uint8Array, pixels: Uint8Array, n: number, output: string): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  try {
    return (await session.run({ [PIXELS_INPUT]: new ort.Tensor('uint8', pixels, [n, S, S, 3]) }, [output]))[output];
  } finally {
    await session.release();
  }
}

describe('vectors pooled in the session (pixel-io.ts PoolRequest)', () => {
  const n = 5;
  const rand = mulberry32(11);
  const pixels = Uint8Array.from({ length: n * S * S * 3 }, () => Math.floor(rand() * 256));

  for (const layout of ['NCHW', 'NHWC'] as const)
    for (const opset of [11, 13, 18])
      it(`mean and max of a ${layout} map, opset ${opset}: poolFeatures' bits, the mean's float64 sum included`, async () => {
        const model = featureModel(layout, opset, 'fixed');
        const c = card(layout);
        const plain: PixelIoRequest = { input: c.input, k: 1 };
        const pool: PoolRequest = { output: 'features', layout, vectors: ['avg', 'max'] };
        const unpooled = wrapWithPixelIo(model, plain);
        const pooled = wrapWithPixelIo(model, { ...plain, pool });
        assert.ok('model' in unpooled && 'model' in pooled);
        assert.deepEqual(pooled.pooled, { used: true });
        // the model's own outputs, as the card is checked against them, whatever the session gives
        assert.deepEqual(
          pooled.declared.outputs.map((o) => o.name),
          ['features'],
        );
        const map = await run(unpooled.model, pixels, n, 'features');
        const want = poolFeatures(map.data as Float32Array, map.dims as number[], layout);
        const got = await run(pooled.model, pixels, n, POOLED_OUTPUT);
        assert.deepEqual(got.dims, [n, 2 * C]);
        const data = got.data as Float32Array;
        for (let t = 0; t < n; t++) {
          const row = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, C * 4);
          assert.ok(row(data.subarray(t * 2 * C, t * 2 * C + C)).equals(row(want.avg.subarray(t * C))), `avg ${t}`);
          assert.ok(
            row(data.subarray(t * 2 * C + C, (t + 1) * 2 * C)).equals(row(want.max.subarray(t * C))),
            `max ${t}`,
          );
        }
      });

  it('one vector (the mean alone) is that vector', async () => {
    const model = featureModel('NCHW', 17, 'fixed');
    const c = card('NCHW');
    const w = wrapWithPixelIo(model, {
      input: c.input,
      k: 1,
      pool: { output: 'features', layout: 'NCHW', vectors: ['avg'] },
    });
    assert.ok('model' in w);
    const map = await run(wrapWithPixelIo(model, { input: c.input, k: 1 }).model as Uint8Array, pixels, n, 'features');
    const got = await run(w.model, pixels, n, POOLED_OUTPUT);
    assert.deepEqual(got.dims, [n, C]);
    const want = poolFeatures(map.data as Float32Array, map.dims as number[], 'NCHW').avg;
    assert.ok(Buffer.from((got.data as Float32Array).buffer).equals(Buffer.from(want.buffer)));
  });

  it('a map whose positions the model leaves free is not pooled in the session, saying why', () => {
    const c = card('NCHW');
    const w = wrapWithPixelIo(featureModel('NCHW', 17, 'free'), {
      input: c.input,
      k: 1,
      pool: { output: 'features', layout: 'NCHW', vectors: ['avg', 'max'] },
    });
    assert.ok('model' in w);
    assert.equal(w.pooled?.used, false);
    assert.match(w.pooled?.reason ?? '', /positions are not fixed/);
  });
});
