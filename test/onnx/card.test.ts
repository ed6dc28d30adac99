import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stainNetCard } from '../../scripts/models/stainnet.js';
import { efficientNetB0Card, tinyCnnCard } from '../../scripts/models/tiny-cnn.js';
import { cardMismatches, parseModelCard, featureDim, type TensorInfo } from '../../shared/onnx/card.js';

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
