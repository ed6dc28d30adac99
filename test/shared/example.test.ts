import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeExample, encodeExamplePieces, decodeExample, exampleType } from '../../shared/example.js';

test('every feature kind round-trips through the protobufjs decoder', () => {
  const floats = new Float32Array(1280 * 3).map((_, i) => Math.sin(i) * 1e3);
  const buf = encodeExample({
    patient_id: { bytes: ['patient-ü'] },
    slide_ids: { bytes: [Buffer.from('a'), Buffer.from(''), Buffer.from('c')] },
    num_tiles: { int64: [3] },
    ints: { int64: [0, 1, 127, 128, 300, 2 ** 40, -1, -(2 ** 40), 9007199254740993n] },
    embedding_avg: { float: floats },
    empty_floats: { float: [] },
    empty_ints: { int64: [] },
  });
  const d = decodeExample(buf);
  assert.deepEqual(d.patient_id, { bytes: [Buffer.from('patient-ü')] });
  assert.deepEqual(d.slide_ids, { bytes: [Buffer.from('a'), Buffer.from(''), Buffer.from('c')] });
  assert.deepEqual(d.num_tiles, { int64: [3n] });
  assert.deepEqual(d.ints, { int64: [0n, 1n, 127n, 128n, 300n, 2n ** 40n, -1n, -(2n ** 40n), 9007199254740993n] });
  assert.deepEqual(d.embedding_avg, { float: floats });
  assert.deepEqual(d.empty_floats, { float: new Float32Array(0) });
  assert.deepEqual(d.empty_ints, { int64: [] });
});

test('the direct encoder produces the same bytes protobufjs would (as a message, not per element)', () => {
  const features = { a: { float: new Float32Array([1.5, -2]) }, b: { int64: [5, 300] }, c: { bytes: ['x'] } };
  const ours = decodeExample(encodeExample(features));
  const viaProtobufjs = exampleType()
    .encode(
      exampleType().fromObject({
        features: {
          feature: {
            a: { floatList: { value: [1.5, -2] } },
            b: { int64List: { value: [5, 300] } },
            c: { bytesList: { value: [Buffer.from('x')] } },
          },
        },
      }),
    )
    .finish();
  assert.deepEqual(decodeExample(viaProtobufjs), ours);
});

test('a non-integer int64 is rejected with the value', () => {
  assert.throws(() => encodeExample({ n: { int64: [1.5] } }), /integer, got 1.5/);
});

test('bytes features are views into the record, not copies (a tile image is most of its record)', () => {
  const image = Buffer.alloc(100_000, 9);
  const record = encodeExample({ image_raw: { bytes: [image] }, n: { int64: [1] } });
  for (const input of [record, new Uint8Array(record.buffer, record.byteOffset, record.byteLength)]) {
    const got = (decodeExample(input).image_raw as { bytes: Buffer[] }).bytes[0];
    assert.ok(Buffer.isBuffer(got));
    assert.ok(got.equals(image));
    assert.equal(got.buffer, record.buffer, 'the same memory as the record');
  }
});

test('as pieces, an Example is the same bytes, its large byte values left where they are', () => {
  const image = Buffer.alloc(200_000);
  for (let i = 0; i < image.length; i++) image[i] = (i * 31) & 255;
  const small = Buffer.from('a small value');
  const features = {
    slide: { bytes: ['S00'] },
    image_raw: { bytes: [image] },
    other: { bytes: [small, image.subarray(0, 70_000)] },
    loc_x: { int64: [448, -1] },
    emb: { float: new Float32Array(30_000).fill(0.5) },
  };
  const whole = encodeExample(features);
  const pieces = encodeExamplePieces(features);
  assert.ok(Buffer.concat(pieces).equals(whole));
  // the two large byte values are pieces of their own, the very buffers given (no copy); the floats are copied
  assert.ok(pieces.includes(image));
  assert.ok(pieces.some((p) => p.buffer === image.buffer && p.byteLength === 70_000));
  assert.equal(pieces.length, 5, 'framing, image, framing, 70 kB view, framing');
  // with no large value it is one piece
  assert.deepEqual(encodeExamplePieces({ slide: { bytes: ['S00'] } }), [encodeExample({ slide: { bytes: ['S00'] } })]);
});
