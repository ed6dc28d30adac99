import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stainNetCard } from '../../scripts/models/stainnet.js';
import { efficientNetB0Card, tinyCnnCard } from '../../scripts/models/tiny-cnn.js';
import { cardMismatches, parseModelCard, featureDim, poolingPlan, type TensorInfo } from '../../shared/onnx/card.js';

const b0In: TensorInfo[] = [{ name: 'input', isTensor: true, type: 'float32', shape: ['N', 3, 224, 224] }];
const b0Out: TensorInfo[] = [{ name: 'features', isTensor: true, type: 'float32', shape: ['N', 1280, 7, 7] }];

describe('model card', () => {
  it('fills defaults and expands a scalar mean/std to three channels', () => {
    const card = parseModelCard(stainNetCard('s'));
    assert.deepEqual(card.input.mean, [0.5, 0.5, 0.5]);
    assert.deepEqual(card.output.std, [0.5, 0.5, 0.5]);
    assert.equal(card.pooling.skipTokens, 0);
  });

  it('rejects a bad card with the field and the problem', () => {
    assert.throws(
      () => parseModelCard({ ...tinyCnnCard(), input: { name: 'input', layout: 'CHW', size: 224 } }, 'm/model.json'),
      /m\/model.json.*\n.*input.layout/s,
    );
    assert.throws(
      () => parseModelCard({ ...tinyCnnCard(), input: { ...tinyCnnCard().input, std: [1, 0, 1] } }),
      /std must not contain 0/,
    );
  });

  it('refuses unknown keys anywhere, naming the key path and the nearest valid name', () => {
    const tokens = { ...tinyCnnCard('tokens') };
    const cases: [unknown, RegExp][] = [
      [{ ...tokens, pooling: { mdoe: 'cls' } }, /\n {2}pooling\.mdoe: unknown key; did you mean mode\?/],
      [{ ...tokens, inptu: tokens.input }, /\n {2}inptu: unknown key; did you mean input\?/],
      [{ ...tokens, input: { ...tokens.input, meen: [0, 0, 0] } }, /input\.meen: unknown key; did you mean mean\?/],
      [{ ...tokens, geometry: { mpp: 0.5, sise: 224 } }, /geometry\.sise: unknown key; did you mean size\?/],
      [{ ...tokens, zzzzzz: 1 }, /zzzzzz: unknown key; valid keys: name, task, description, input, output/],
    ];
    for (const [card, message] of cases) assert.throws(() => parseModelCard(card), message);
  });

  it('refuses an unknown pooling mode listing the valid ones, and modes that cannot read the output', () => {
    const tokens = tinyCnnCard('tokens');
    assert.throws(
      () => parseModelCard({ ...tokens, pooling: { mode: 'gem' } }),
      /pooling\.mode: unknown pooling mode "gem"; valid modes: mean\+max, mean, cls, cls\+mean/,
    );
    assert.throws(
      () => parseModelCard({ ...tinyCnnCard('map'), pooling: { mode: 'cls' } }),
      /pooling\.mode: mode 'cls' reads the class token of NLC tokens, but the output layout is NCHW/,
    );
    assert.throws(
      () => parseModelCard({ ...tokens, pooling: { mode: 'cls+mean', registers: 4, skipTokens: 2 } }),
      /skipTokens 2 disagrees with registers 4/,
    );
  });

  it('resolves the pooling plan: vectors per mode, the class token and registers left out of the mean', () => {
    const tokens = tinyCnnCard('tokens');
    const plan = (pooling: object) => poolingPlan(parseModelCard({ ...tokens, pooling }));
    assert.deepEqual(plan({}), { mode: 'mean+max', vectors: ['avg', 'max'], prefixTokens: 0 });
    assert.deepEqual(plan({ skipTokens: 1 }), { mode: 'mean+max', vectors: ['avg', 'max'], prefixTokens: 1 });
    assert.deepEqual(plan({ mode: 'cls' }), { mode: 'cls', vectors: ['cls'], prefixTokens: 1 });
    assert.deepEqual(plan({ mode: 'cls+mean', registers: 4 }), {
      mode: 'cls+mean',
      vectors: ['avg', 'cls'],
      prefixTokens: 5,
    });
    assert.deepEqual(plan({ mode: 'mean', registers: 8 }), { mode: 'mean', vectors: ['avg'], prefixTokens: 9 });
  });

  it("a first card's parsed form is unchanged (its JSON is in every embeddings file's metadata)", () => {
    assert.equal(
      JSON.stringify(parseModelCard(efficientNetB0Card())),
      '{"name":"efficientnet-b0","task":"embed","description":"EfficientNet-B0 without top (torchvision `features`): [N,3,224,224] -> [N,1280,7,7], mean and max pooled","input":{"name":"input","layout":"NCHW","size":224,"scale":0.00392156862745098,"mean":[0.485,0.456,0.406],"std":[0.229,0.224,0.225]},"output":{"name":"features","layout":"NCHW","scale":0.00392156862745098,"mean":[0,0,0],"std":[1,1,1]},"pooling":{"skipTokens":0}}',
    );
  });

  it('takes float16 inputs and outputs, refuses other types', () => {
    const card = parseModelCard(efficientNetB0Card());
    const half = (t: TensorInfo[]) => t.map((i) => ({ ...i, type: 'float16' }));
    assert.deepEqual(cardMismatches(card, half(b0In), half(b0Out)), []);
    const ints = cardMismatches(
      card,
      b0In.map((i) => ({ ...i, type: 'int8' })),
      b0Out,
    );
    assert.match(ints[0], /input 'input' is int8; float32 and float16 are supported/);
  });

  it('agrees with EfficientNet-B0 shapes and says D', () => {
    const card = parseModelCard(efficientNetB0Card());
    assert.deepEqual(cardMismatches(card, b0In, b0Out), []);
    assert.equal(featureDim(card, b0Out[0]), 1280);
  });

  it('names both sides of each mismatch', () => {
    const base = parseModelCard(efficientNetB0Card());
    const wrongSize = cardMismatches({ ...base, input: { ...base.input, size: 256 } }, b0In, b0Out);
    assert.equal(wrongSize.length, 1);
    assert.match(wrongSize[0], /\[N,3,224,224\].*size 256.*\[N,3,256,256\]/);
    const wrongOut = cardMismatches({ ...base, output: { ...base.output, name: 'logits', layout: 'NC' } }, b0In, b0Out);
    assert.match(wrongOut[0], /'logits'.*'features' float32\[N,1280,7,7\]/);
    const wrongRank = cardMismatches({ ...base, output: { ...base.output, layout: 'NLC' } }, b0In, b0Out);
    assert.match(wrongRank[0], /\[N,1280,7,7\].*rank 4.*NLC needs rank 3/);
  });

  it('a normalize card must describe an RGB image output', () => {
    const card = parseModelCard(stainNetCard('s'));
    const inputs: TensorInfo[] = [{ name: 'input', isTensor: true, type: 'float32', shape: ['N', 3, 'H', 'W'] }];
    assert.deepEqual(
      cardMismatches(card, inputs, [{ name: 'output', isTensor: true, type: 'float32', shape: ['N', 3, 'H', 'W'] }]),
      [],
    );
    const four = cardMismatches(card, inputs, [
      { name: 'output', isTensor: true, type: 'float32', shape: ['N', 4, 'H', 'W'] },
    ]);
    assert.match(four[0], /4 channels/);
  });
});
