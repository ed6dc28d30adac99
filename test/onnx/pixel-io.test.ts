import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { buildModels } from '../../scripts/models/build.js';
import { stainNetCard } from '../../scripts/models/stainnet.js';
import { embedTiles, warmUp } from '../../stages/embed/embed.js';
import { normalizeTiles } from '../../stages/normalize/normalize.js';
import { encodeRgb } from '../../shared/image.js';
import { parseModelCard, type ModelCard } from '../../shared/onnx/card.js';
import { openModel } from '../../shared/onnx/model.js';
import { encodeModel, ModelProto } from '../../shared/onnx/onnx-proto.js';
import { PIXELS_INPUT, PIXELS_OUTPUT, wrapWithPixelIo } from '../../shared/onnx/pixel-io.js';
import { tensorInfos } from '../../shared/onnx/providers.js';
import { blockSums, fillInput, inputDims, outputToRgb } from '../../shared/onnx/tensor.js';
import { TileRecordWriter } from '../../shared/tile-record.js';
import { cmuTiles, cmuTilesMissing } from '../helpers/cmu-tiles.js';
import { tempDir } from '../helpers/dirs.js';

const B0 = resolve(import.meta.dirname, '../../../shared/fixtures/models/efficientnet-b0-random.onnx');
const S = 448;

/** Three 448 px tiles: two of CMU-1's tissue and one with every level 0..255 and hard edges. */
async function tiles(): Promise<Uint8Array[]> {
  const out: Uint8Array[] = await cmuTiles([
    [0, 0],
    [900, 600],
  ]);
  const ramp = new Uint8Array(S * S * 3);
  for (let i = 0; i < ramp.length; i++) ramp[i] = (i * 37 + (i >> 9)) % 256;
  out.push(ramp);
  return out;
}

/** Two embedTiles runs over the 11 tiles gave the very same vectors, bit for bit. */
function sameVectors(vectors: { n: number; avg: Float32Array; max: Float32Array }[], conversion: string): void {
  assert.equal(vectors[1].n, 11);
  for (const key of ['avg', 'max'] as const)
    assert.ok(Buffer.from(vectors[0][key].buffer).equals(Buffer.from(vectors[1][key].buffer)), `${conversion} ${key}`);
}

function batch(px: Uint8Array[]): Uint8Array {
  const data = new Uint8Array(px.length * S * S * 3);
  px.forEach((p, i) => data.set(p, i * S * S * 3));
  return data;
}

/** The tiles' k x k block sums, as a model wrapped for sums takes them. */
function sumsOf(px: Uint8Array[], k: number): ort.Tensor {
  const m = S / k;
  const data = new Uint16Array(px.length * 3 * m * m);
  px.forEach((p, i) => blockSums(data, i, p, S, k));
  return new ort.Tensor('uint16', data, [px.length, 3, m, m]);
}

/** A model whose output is its input: what the wrapped model computes as the input is then visible. */
function identityModel(layout: 'NCHW' | 'NHWC', size: number | string, opset = 17): Buffer {
  const dims = layout === 'NCHW' ? ['N', 3, size, size] : ['N', size, size, 3];
  return encodeModel(
    {
      name: 'identity',
      inputs: [{ name: 'input', dims }],
      outputs: [{ name: 'features', dims }],
      initializers: [],
      nodes: [{ opType: 'Identity', inputs: ['input'], outputs: ['features'] }],
    },
    opset,
  );
}

function card(over: { layout: 'NCHW' | 'NHWC'; size: number; task: 'normalize' | 'embed' }): ModelCard {
  return parseModelCard({
    name: 'identity',
    task: over.task,
    input: {
      name: 'input',
      layout: over.layout,
      size: over.size,
      scale: 1 / 255,
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
    },
    output:
      over.task === 'normalize'
        ? {
            name: 'features',
            layout: over.layout,
            scale: 1 / 255,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
          }
        : { name: 'features', layout: over.layout },
  });
}

async function run(model: Uint8Array | string, feeds: Record<string, ort.Tensor>, output: string) {
  const session = await ort.InferenceSession.create(model as Uint8Array, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
  });
  try {
    return (await session.run(feeds, [output]))[output];
  } finally {
    await session.release();
  }
}

describe('pixel I/O: the card arithmetic as ONNX nodes', { skip: cmuTilesMissing }, () => {
  const tmp = tempDir('pixel-io');
  let px: Uint8Array[];
  before(async () => {
    px = await tiles();
    buildModels({ out: join(tmp.dir, 'identity'), normalize: 'identity', shift: [0, 0, 0], embed: 'tiny', seed: 3 });
    buildModels({ out: join(tmp.dir, 'shift'), normalize: 'shift', shift: [40, -30, 25], embed: 'none', seed: 0 });
  });
  after(() => tmp.cleanup());

  for (const which of ['identity', 'shift']) {
    it(`normalize (${which} StainNet): the wrapped model's pixels are the JavaScript conversion's, byte for byte, clamping included`, async () => {
      const dir = join(tmp.dir, which, 'normalize');
      const c = parseModelCard(JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')));
      const w = wrapWithPixelIo(readFileSync(join(dir, 'model.onnx')), { input: c.input, output: c.output, k: 1 });
      assert.ok('model' in w, 'reason' in w ? w.reason : '');
      const x = new Float32Array(px.length * 3 * S * S);
      px.forEach((p, i) => fillInput(x, i, p, S, S, c.input));
      const y = await run(
        join(dir, 'model.onnx'),
        { input: new ort.Tensor('float32', x, inputDims('NCHW', px.length, S, S)) },
        'output',
      );
      const got = await run(
        w.model,
        { [PIXELS_INPUT]: new ort.Tensor('uint8', batch(px), [px.length, S, S, 3]) },
        PIXELS_OUTPUT,
      );
      assert.equal(got.type, 'uint8');
      assert.deepEqual(got.dims, [px.length, S, S, 3]);
      const want = batch(px.map((_, i) => outputToRgb(y.data as Float32Array, i, S, S, c.output)));
      assert.ok(Buffer.from(got.data as Uint8Array).equals(Buffer.from(want)), 'pixels differ from outputToRgb');
      if (which === 'identity') assert.ok(Buffer.from(got.data as Uint8Array).equals(Buffer.from(batch(px))));
      else {
        // the shift pushes bright red past 255 and dark green below 0: both clamp as Uint8ClampedArray does
        const out = got.data as Uint8Array;
        assert.ok(out.some((v, i) => i % 3 === 0 && v === 255) && out.some((v, i) => i % 3 === 1 && v === 0));
      }
    });
  }

  for (const layout of ['NCHW', 'NHWC'] as const) {
    for (const k of [1, 2]) {
      it(`the model's input from pixels equals fillInput's floats (${layout}, ${k}x${k} mean), within float32 rounding`, async () => {
        const size = S / k;
        const c = card({ layout, size, task: 'embed' });
        const w = wrapWithPixelIo(identityModel(layout, size), { input: c.input, k });
        assert.ok('model' in w, 'reason' in w ? w.reason : '');
        const got = await run(
          w.model,
          { [PIXELS_INPUT]: new ort.Tensor('uint8', batch(px), [px.length, S, S, 3]) },
          'features',
        );
        const want = new Float32Array(px.length * 3 * size * size);
        px.forEach((p, i) => fillInput(want, i, p, size, size, c.input, k));
        assert.deepEqual(got.dims, inputDims(layout, px.length, size, size));
        const g = got.data as Float32Array;
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(g[i] - want[i]));
        // |x| <= 2.7 here: one float32 ulp is 2.4e-7
        assert.ok(worst <= 5e-7, `largest difference ${worst}`);
      });
    }
    it(`block sums give the model the very floats of the bytes' mean (${layout}, k = 2 and 4)`, async () => {
      for (const k of [2, 4]) {
        const size = S / k;
        const c = card({ layout, size, task: 'embed' });
        const got: Float32Array[] = [];
        for (const sums of [false, true]) {
          const w = wrapWithPixelIo(identityModel(layout, size), { input: c.input, k, sums });
          assert.ok('model' in w, 'reason' in w ? w.reason : '');
          const feed = sums ? sumsOf(px, k) : new ort.Tensor('uint8', batch(px), [px.length, S, S, 3]);
          const y = await run(w.model, { [PIXELS_INPUT]: feed }, 'features');
          assert.deepEqual(y.dims, inputDims(layout, px.length, size, size));
          got.push(y.data as Float32Array);
        }
        assert.ok(Buffer.from(got[0].buffer).equals(Buffer.from(got[1].buffer)), `k = ${k}: the floats differ`);
      }
    });
    it(`an NHWC or NCHW image model gives its pixels back in NHWC bytes (${layout})`, async () => {
      const c = card({ layout, size: S, task: 'normalize' });
      const w = wrapWithPixelIo(identityModel(layout, 'S'), { input: c.input, output: c.output, k: 1 });
      assert.ok('model' in w, 'reason' in w ? w.reason : '');
      const got = await run(
        w.model,
        { [PIXELS_INPUT]: new ort.Tensor('uint8', batch(px), [px.length, S, S, 3]) },
        PIXELS_OUTPUT,
      );
      assert.ok(Buffer.from(got.data as Uint8Array).equals(Buffer.from(batch(px))));
    });
  }

  it('B0 gives the same features, bit for bit, from block sums as from bytes', {
    skip: !existsSync(B0) && 'the B0 fixture is absent',
  }, async () => {
    const c = card({ layout: 'NCHW', size: 224, task: 'embed' });
    const bytes = readFileSync(B0);
    const bare = await ort.InferenceSession.create(B0);
    const output = tensorInfos(bare.outputMetadata)[0].name;
    await bare.release();
    const got: Float32Array[] = [];
    for (const sums of [false, true]) {
      const w = wrapWithPixelIo(bytes, { input: c.input, k: 2, sums });
      assert.ok('model' in w, 'reason' in w ? w.reason : '');
      const feed = sums ? sumsOf(px, 2) : new ort.Tensor('uint8', batch(px), [px.length, S, S, 3]);
      got.push((await run(w.model, { [PIXELS_INPUT]: feed }, output)).data as Float32Array);
    }
    assert.ok(Buffer.from(got[0].buffer).equals(Buffer.from(got[1].buffer)), 'the features differ');
  });

  it("declares the model's own inputs and outputs as ONNX Runtime reports them (what the card is checked against)", async () => {
    const models: [string, ModelCard, number][] = [
      [join(tmp.dir, 'identity', 'normalize', 'model.onnx'), parseModelCard(stainNetCard('s')), 1],
      [
        join(tmp.dir, 'identity', 'embed', 'model.onnx'),
        parseModelCard(JSON.parse(readFileSync(join(tmp.dir, 'identity', 'embed', 'model.json'), 'utf8'))),
        2,
      ],
    ];
    if (existsSync(B0)) models.push([B0, card({ layout: 'NCHW', size: 224, task: 'embed' }), 2]);
    for (const [path, c, k] of models) {
      const w = wrapWithPixelIo(readFileSync(path), {
        input: c.input,
        output: c.task === 'normalize' ? c.output : undefined,
        k,
      });
      assert.ok('model' in w, 'reason' in w ? w.reason : '');
      const session = await ort.InferenceSession.create(path, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
      assert.deepEqual(w.declared.inputs, tensorInfos(session.inputMetadata), path);
      assert.deepEqual(w.declared.outputs, tensorInfos(session.outputMetadata), path);
      await session.release();
    }
  });

  it('says why it cannot wrap a model, and wraps nothing then', () => {
    const c = card({ layout: 'NCHW', size: 224, task: 'normalize' });
    const reason = (
      model: Uint8Array,
      o: { k?: number; input?: ModelCard['input']; output?: ModelCard['output'] | null } = {},
    ) => {
      const w = wrapWithPixelIo(model, {
        input: o.input ?? c.input,
        output: o.output === null ? undefined : (o.output ?? c.output),
        k: o.k ?? 1,
      });
      return 'reason' in w ? w.reason : 'wrapped';
    };
    assert.match(reason(identityModel('NCHW', 'S', 10)), /opset 10; turning pixels into inputs needs 11/);
    assert.equal(reason(identityModel('NCHW', 224, 10), { output: null, k: 2 }), 'wrapped'); // embed needs no Round or Clip
    assert.match(
      reason(identityModel('NCHW', 'S'), { input: { ...c.input, name: 'pixels' } }),
      /not the card's one input 'pixels'/,
    );
    assert.match(reason(identityModel('NCHW', 'S'), { output: { ...c.output, name: 'y' } }), /no output 'y'/);
    assert.match(reason(identityModel('NCHW', 'S'), { k: 1.5 }), /not a whole multiple/);
    const sums = (k: number, output?: ModelCard['output']) => {
      const w = wrapWithPixelIo(identityModel('NCHW', 224), { input: c.input, output, k, sums: true });
      return 'reason' in w ? w.reason : 'wrapped';
    };
    assert.equal(sums(2), 'wrapped');
    assert.match(sums(3), /block sums are for a feature model at k = 2, 4, 8 or 16 \(k = 3\)/);
    assert.match(sums(32), /k = 32/);
    assert.match(sums(2, c.output), /block sums are for a feature model/);
    const external = encodeModel({
      name: 'external',
      inputs: [{ name: 'input', dims: ['N', 3, 'S', 'S'] }],
      outputs: [{ name: 'features', dims: ['N', 3, 'S', 'S'] }],
      initializers: [{ name: 'w', dims: [1], data: Float32Array.from([1]) }],
      nodes: [{ opType: 'Mul', inputs: ['input', 'w'], outputs: ['features'] }],
    });
    // the initializer marked as kept in an external file (TensorProto.data_location), as a large export has it
    const m = ModelProto.decode(external) as unknown as { graph: { initializer: { dataLocation?: number }[] } };
    m.graph.initializer[0].dataLocation = 1;
    assert.match(reason(ModelProto.encode(m as never).finish()), /external data/);
  });

  it('normalizeTiles writes the same bytes either way; embedTiles gives the same embeddings within float32 rounding', async () => {
    const path = join(tmp.dir, 'tiles.tfrecord');
    const w = await TileRecordWriter.open(path);
    for (let i = 0; i < 11; i++) {
      const image = await encodeRgb({ data: Buffer.from(px[i % px.length]), width: S, height: S }, 'jpeg');
      await w.write({ slide: 's', image, locX: i * S, locY: 0 });
    }
    await w.close();
    const settings = { providers: ['cpu'], intraOpThreads: 1, interOpThreads: 0 };
    const written: Buffer[] = [];
    for (const conversion of ['js', 'onnx'] as const) {
      const m = await openModel(join(tmp.dir, 'shift', 'normalize'), 'normalize', settings, undefined, { conversion });
      assert.equal(m.pixelIo !== undefined, conversion === 'onnx');
      const out = join(tmp.dir, `normalized-${conversion}.tfrecord`);
      try {
        await normalizeTiles(path, out, m, { batchSize: 4, format: 'png' });
      } finally {
        await m.worker.close();
      }
      written.push(readFileSync(out));
    }
    assert.ok(written[0].equals(written[1]), 'normalize wrote different bytes');
    const embedded = [];
    for (const conversion of ['js', 'onnx'] as const) {
      const m = await openModel(join(tmp.dir, 'identity', 'embed'), 'embed', settings, undefined, {
        conversion,
        tileSide: S,
      });
      assert.equal(m.pixelIo?.k, conversion === 'onnx' ? 2 : undefined);
      // on CPU a 2x2 mean goes as block sums
      assert.equal(m.pixelIo?.sums, conversion === 'onnx' ? true : undefined);
      try {
        embedded.push(await embedTiles(join(tmp.dir, 'normalized-js.tfrecord'), m, 4));
      } finally {
        await m.worker.close();
      }
    }
    const [a, b] = embedded;
    assert.equal(a.resize, '2x2-mean');
    assert.equal(b.resize, '2x2-mean');
    assert.deepEqual([b.n, b.dim], [a.n, a.dim]);
    for (const key of ['avg', 'max'] as const) {
      let worst = 0;
      for (let i = 0; i < a[key].length; i++)
        worst = Math.max(worst, Math.abs(a[key][i] - b[key][i]) / Math.max(1, Math.abs(a[key][i])));
      assert.ok(worst < 1e-5, `${key}: largest relative difference ${worst}`);
    }
  });

  it("a warm-up batch (a model opened ahead of its datum) leaves embedTiles' vectors as they are, either conversion", async () => {
    const settings = { providers: ['cpu'], intraOpThreads: 1, interOpThreads: 0 };
    for (const conversion of ['js', 'onnx'] as const) {
      const vectors = [];
      for (const warm of [false, true]) {
        const m = await openModel(join(tmp.dir, 'identity', 'embed'), 'embed', settings, undefined, {
          conversion,
          tileSide: S,
        });
        try {
          if (warm) await warmUp(m, 4, S);
          vectors.push(await embedTiles(join(tmp.dir, 'normalized-js.tfrecord'), m, 4));
        } finally {
          await m.worker.close();
        }
      }
      sameVectors(vectors, conversion);
    }
  });

  it("two sessions side by side give embedTiles' vectors bit for bit as one does, both sessions used", async () => {
    for (const conversion of ['js', 'onnx'] as const) {
      const vectors = [];
      for (const sessions of [1, 2]) {
        const settings = { providers: ['cpu'], sessions, intraOpThreads: 1, interOpThreads: 0 };
        const m = await openModel(join(tmp.dir, 'identity', 'embed'), 'embed', settings, undefined, {
          conversion,
          tileSide: S,
        });
        try {
          // (the warm-up waits for both sessions to open)
          await warmUp(m, 4, S);
          vectors.push(await embedTiles(join(tmp.dir, 'normalized-js.tfrecord'), m, 2));
          assert.equal(m.worker.sessions, sessions);
          // the second session opened the first's optimized graph (its wrap, for 'onnx')
          assert.equal(m.worker.othersFrom, sessions === 2 ? 'optimized graph' : undefined);
          // the warm-up's batch for each, then 11 tiles in 6 batches (to the least busy: how they split depends on
          // which answers first)
          const sent = m.worker.batchesPerSession;
          assert.equal(sent.length, sessions);
          assert.equal(
            sent.reduce((a, b) => a + b),
            6 + sessions,
          );
          assert.ok(Math.min(...sent) >= 2, `batches per session ${sent}`);
        } finally {
          await m.worker.close();
        }
      }
      sameVectors(vectors, conversion);
    }
  });

  it("embed keeps converting in JavaScript when the tiles are no whole multiple of the model's size", async () => {
    const m = await openModel(
      join(tmp.dir, 'identity', 'embed'),
      'embed',
      { providers: ['cpu'], intraOpThreads: 1, interOpThreads: 0 },
      undefined,
      {
        conversion: 'onnx',
        tileSide: 300,
      },
    );
    await m.worker.close();
    assert.equal(m.pixelIo, undefined);
  });
});
